"""Who our TensorRT plugin is: the ONNX node the exporter writes and the plugin that runs it.

TensorRT's parser picks its built-in importers by op_type, whatever the domain, so the op has a
name of its own; the node's `plugin_namespace` attribute sends it to our plugin.
"""

NAMESPACE = "repvsr"
NAME = "FlowGuidedDeformConv"
VERSION = "1"
PLUGIN_ID = f"{NAMESPACE}::{NAME}"
