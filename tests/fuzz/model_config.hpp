#pragma once
// The tiny 2B4T-shaped configuration shared by the model fuzzer and its seed: the seed's
// model.safetensors is written for it, the fuzzer loads every input with it.
#include <string_view>

namespace fuzz {

inline constexpr const char* tiny_spec = "2b4t,dim=128,hidden=128,layers=1,heads=2,kv_heads=1,vocab=4,seq=8";

inline constexpr std::string_view tiny_config_json = R"({"architectures": ["BitNetForCausalLM"], "model_type": "bitnet",
 "hidden_size": 128, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2,
 "num_key_value_heads": 1, "vocab_size": 4, "max_position_embeddings": 8, "rms_norm_eps": 1e-05,
 "rope_theta": 500000.0, "hidden_act": "relu2", "tie_word_embeddings": true,
 "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline"}})";

}  // namespace fuzz
