"""Training of the built-in demo's extractors on the synthetic renderer's ground truth.

`python -m sherlock.extractor_training --output-dir DIR` renders training frames from one seed of the synthetic M-VAE
world (`dataset_scripts/synthetic_*.py`), trains a small RT-DETR (boxes and COCO-80 classes, its own loss), ViTPose
(17 COCO keypoints, heatmap MSE) and SAM 2 (masks from box prompts, BCE + dice), measures them on held-out frames of
another seed through the processor's own extractor classes (box mAP@0.5 with pycocotools, PCK@0.1, mask IoU) and
writes each model in safetensors with its preprocessor config (`DIR/{detector,pose,segmenter}/`) and
`DIR/training_record.json`. The shipped result is `sherlock/demo_extractors/` (`sherlock.tiny_extractors.
trained_extractor_models`).

Modules: `data` (rendered samples), `common` (the training loop), `detector`, `pose`, `segmenter`, `__main__` (the
command). Importing this package imports neither torch nor transformers.
"""
