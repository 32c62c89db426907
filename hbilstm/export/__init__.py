"""A trained model outside its run directory.

* ``folder`` the portable model folder (config.json, model.safetensors, vocab.json, README.md);
* ``card``   the model card (README.md) written into it;
* ``onnx``   the model as an ONNX graph, and scoring with ONNX Runtime.
"""
