// quickstart: ternarize a float matrix, quantize a vector, multiply, compare with float.
#include <cstdio>

#include <Eigen/Core>
#include <ternary/eigen.hpp>

int main() {
    // a float layer (out x in) and an input, as a trained model would have them
    const Eigen::Index out = 1024, in = 2560;
    const Eigen::MatrixXf w = Eigen::MatrixXf::Random(out, in);
    const Eigen::VectorXf x = Eigen::VectorXf::Random(in);

    // BitNet b1.58: weights to {-1, 0, +1} with one absmean scale, the input to int8 with absmax
    const auto w_ternary = ternary::eigen::ternarize(w);  // 2 bits per weight
    const auto x_int8 = ternary::eigen::quantize(x);

    // the product needs only integer additions, then one float rescale per output
    const Eigen::VectorXf y = ternary::eigen::gemv(w_ternary, x_int8);

    // how far is that from the same product in float, on the ternarized weights?
    const Eigen::VectorXf y_float = ternary::eigen::dequantize(w_ternary) * x;
    const double relative_error = (y - y_float).norm() / y_float.norm();

    const double float_bytes = double(out) * double(in) * sizeof(float);
    const double ternary_bytes = double(w_ternary.bytes().size());
    std::printf("ternary GEMV %lld x %lld, gamma = %.4f\n", (long long)out, (long long)in,
                double(w_ternary.scales().values()[0]));
    std::printf("relative error vs float on the same ternary weights: %.2e (int8 activations)\n", relative_error);
    std::printf("weights: %.2f MiB as float, %.2f MiB packed: %.1fx smaller\n", float_bytes / (1 << 20),
                ternary_bytes / (1 << 20), float_bytes / ternary_bytes);
    return relative_error < 0.05 ? 0 : 1;
}
