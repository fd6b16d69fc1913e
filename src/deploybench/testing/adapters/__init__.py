"""Local protocol adapters: serve a wire format deploybench speaks (TGI, SageMaker runtime
event-stream) in front of a real llama-server, so those protocol clients are tested end to end
on this machine, byte for byte, without the real services. Also usable as dev tools::

    python -m deploybench.testing.adapters.tgi --upstream http://127.0.0.1:8080 --port 3000
    python -m deploybench.testing.adapters.sagemaker --upstream http://127.0.0.1:8080 --port 8081

They listen on 127.0.0.1 only.
"""

from .serve import BackgroundServer

__all__ = ["BackgroundServer"]
