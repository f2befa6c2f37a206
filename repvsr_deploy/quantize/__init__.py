"""Post-training quantization of exported step graphs (repvsr-quantize): int8 for OpenVINO,
onnxruntime and TensorRT (fp8 too for TensorRT), calibrated on real footage through the model's own
recurrence and checked on a held-out clip before anything is written."""
