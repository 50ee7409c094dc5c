#pragma once
// Everything in the core library (standard library only). Eigen interop is separate:
// #include <ternary/eigen.hpp>.

#include "activations.hpp"
#include "aligned_buffer.hpp"
#include "dequantize.hpp"
#include "error.hpp"
#include "gemm.hpp"
#include "limits.hpp"
#include "matrix_view.hpp"
#include "pack/base3.hpp"
#include "pack/packing.hpp"
#include "pack/two_bit.hpp"
#include "quant/absmax.hpp"
#include "quant/absmean.hpp"
#include "rounding.hpp"
#include "scales.hpp"
#include "simd/policy.hpp"
#include "simd/scalar.hpp"
#include "ternary_matrix.hpp"
#include "version.hpp"
