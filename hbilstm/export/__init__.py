"""A trained model outside its run directory.

* ``folder`` the portable model folder (config.json, model.safetensors, vocab.json, README.md);
* ``card``   the model card (README.md) written into it;
* ``onnx``   the model as an ONNX graph;
* ``onnx_runtime`` scoring such a graph with ONNX Runtime, and a model folder loaded for it, without torch;
* ``run_export`` the folder ``hbilstm train`` leaves in its run directory, which ``predict`` scores without torch.
"""
