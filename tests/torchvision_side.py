"""Load a checkpoint through the product's HFModel and print, as JSON, which image backend it took and the
pixels it made: run by tests/acceptance/test_image_backends.py under a Python that has torchvision (and under
the main one, which has none), so the two can be compared byte for byte.

    python tests/torchvision_side.py CHECKPOINT --setting auto:paper [--setting torchvision:context ...] IMAGE...

Each --setting is --image-backend and whether the readings follow the original (paper) or not (context).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--setting", action="append", required=True, help="BACKEND:paper|context")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import numpy as np
    from PIL import Image

    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings

    found = []
    for setting in args.setting:
        backend, readings = setting.split(":")
        settings = LoadSettings(
            args.checkpoint, dtype="fp32", device="cpu", image_backend=backend, paper_readings=readings == "paper"
        )
        model = HFModel(settings, name="tiny")
        digests = []
        for path in args.images:
            with Image.open(path) as opened:
                pixels = model.processor.image_processor(images=[opened.convert("RGB")], return_tensors="pt")
            values = np.ascontiguousarray(pixels["pixel_values"].numpy())
            digests.append(hashlib.sha256(values.tobytes()).hexdigest())
        described = model.describe()
        found.append(
            {
                "setting": setting,
                "backend": described["image_backend"],
                "reason": described["image_backend_reason"],
                "fidelity": described["fidelity"]["image_backend"],
                "settings": model.generation_settings(),
                "class": type(model.processor.image_processor).__name__,
                "pixels": digests,
            }
        )
        model.close()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
