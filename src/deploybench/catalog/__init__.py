"""Hardware and price catalog: a bundled, dated YAML file that a user file can override.

Each price keeps the date it was read and its source beside it (:class:`Price`); derived
figures are flagged ``estimate``. The bundled file is ``catalog/hardware.yaml``; a user file
(``load_catalog(path)``, ``--catalog`` or ``DEPLOYBENCH_CATALOG``) has the same shape and is
merged by entry name: known fields are replaced, ``prices`` are merged region by region, new
names are added.

Local CPU profiles (``local-cpu``) are priced per vCPU-hour: price = vCPUs x rate.

GPU figures (``gpus:``, :class:`GpuSpec`) are per device and dense: where a vendor sheet prints 2:4
sparse peaks, they are kept as printed in ``sparse_tflops`` and halved in ``peak_tflops`` (the loader
checks the halving). Every GPU names its source and date, or says ``recalled: true`` (written from
memory of the sheet, not checked against it); ``figures:`` can give one figure its own provenance.
Peaks never fall with precision: fp8 >= fp16/bf16 and fp4 >= fp8 where both are given.

Open-model architectures (``models.yaml``) load with :func:`load_architectures` /
:func:`architecture` (module :mod:`.models`).
"""

from .hardware import (AWS_REGIONS, BUNDLED, DEFAULT_REGION, ENV_VAR, PRECISION_ORDER, Catalog, CpuProfile, FigureSource,
                       GpuSpec, HardwareEntry, Price)
from .loader import check_tp, cpu_profile_price, gpu_count, load_catalog
from .models import ModelArchitecture, architecture, from_hf_config, load_architectures

__all__ = ["Catalog", "CpuProfile", "FigureSource", "GpuSpec", "HardwareEntry", "Price", "DEFAULT_REGION", "ENV_VAR",
           "AWS_REGIONS", "PRECISION_ORDER", "ModelArchitecture", "architecture", "check_tp", "cpu_profile_price",
           "from_hf_config", "gpu_count", "load_architectures", "load_catalog"]
