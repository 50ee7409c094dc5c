// ternary-convert: a checkpoint in another format (GGUF with another tensor type, llama2.c,
// safetensors, ...) written as GGUF or as a Hugging Face safetensors checkpoint, with a
// progress bar. Ternary weights convert losslessly.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <unistd.h>

#include <ternary/bitnet/random_model.hpp>
#include <ternary/io/gguf_save.hpp>
#include <ternary/io/load.hpp>
#include <ternary/io/llama2c_save.hpp>
#include <ternary/io/safetensors_save.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "numbers.hpp"

namespace {

const char* usage =
    "usage: ternary-convert IN OUT [--format FORMAT] [--type TYPE] [--head-type T]\n"
    "       ternary-convert --random CONFIG OUT [--format FORMAT] [--type TYPE] [--head-type T]\n"
    "  IN           a model ternary-generate loads (GGUF, safetensors directory or file, llama2.c .bin)\n"
    "  --random CONFIG  instead of IN: random weights of a preset shape (2b4t, 2b4t,layers=4, ...),\n"
    "               to measure loading and memory without a real checkpoint\n"
    "  OUT          the GGUF file or the safetensors directory to write\n"
    "  --format FORMAT  gguf, safetensors (a directory OUT/ with config.json and\n"
    "               model.safetensors: packed U8 ternary projections as bitnet-b1.58-2B-4T) or\n"
    "               llama2c (llama2.c's legacy float file, bitllama2.c's ak42 for ternary models);\n"
    "               default: gguf if OUT ends in .gguf, llama2c if it ends in .bin, else safetensors\n"
    "  --type TYPE  how to store the linear layers: i2_s (default for ternary models), tq2_0,\n"
    "               tq1_0 (ternary models), f32 (default for float models), f16 (float models);\n"
    "               GGUF only (safetensors keeps each float matrix in its own format)\n"
    "  --head-type T  GGUF only: the output head's format: f32, f16, bf16, q8_0, q6_k or q4_k\n"
    "               (llama.cpp's block formats); a tied head is then written as its own\n"
    "               output.weight; default: as stored\n"
    "  -z, --tokenizer PATH  GGUF only: store this tokenizer in the file (Llama 3 tokenizer.model,\n"
    "               tokenizer.json, a GGUF, ...); by default a GGUF input's own tokenizer is kept\n"
    "  -m IN        the same as IN\n"
    "  -t THREADS   threads (default: all cores, or TERNARY_THREADS)\n"
    "  -h, --help   this text\n";

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "ternary-convert: error: %s\n%s", message.c_str(), usage);
    std::exit(1);
}

/// A progress bar on stderr, redrawn in place on a terminal; elsewhere (a log file, a pipe)
/// only the final count, one line, instead of a line of every redraw.
void progress(std::size_t done, std::size_t total, const char* what) {
    static const bool terminal = isatty(STDERR_FILENO) != 0;
    if (!terminal) {
        if (done == total) std::fprintf(stderr, "%s: %zu/%zu\n", what, done, total);
        return;
    }
    constexpr std::size_t width = 40;
    const std::size_t filled = total == 0 ? width : done * width / total;
    std::fprintf(stderr, "\r%-8s [%s%s] %zu/%zu", what, std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), done, total);
    if (done == total) std::fputc('\n', stderr);
}

}  // namespace

int main(int argc, char** argv) {
    std::string in, out, type, random, format, tokenizer_path, head_type;
    std::string model_option;  // -m IN
    std::size_t threads = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage, stdout);
            return 0;
        }
        if (arg == "-t") {
            if (i + 1 >= argc) fail("missing value after -t");
            try {
                threads = examples::parse_threads(argv[++i]);
            } catch (const std::invalid_argument&) {
                fail("bad value '" + std::string(argv[i]) + "' for -t");
            }
        } else if (arg == "-m") {  // the input, as the other programs name their model
            if (i + 1 >= argc) fail("missing value after -m");
            model_option = argv[++i];
        } else if (arg == "--type" || arg == "--random" || arg == "--format" || arg == "--tokenizer" || arg == "-z" ||
                   arg == "--head-type") {
            if (i + 1 >= argc) fail("missing value after " + std::string(arg));
            (arg == "--type"     ? type
             : arg == "--random" ? random
             : arg == "--format" ? format
             : arg == "--tokenizer" || arg == "-z" ? tokenizer_path
                                 : head_type) = argv[++i];
        } else if (!arg.empty() && arg[0] == '-') {
            fail("unknown option " + std::string(arg));
        } else if (in.empty()) {
            in = arg;
        } else if (out.empty()) {
            out = arg;
        } else {
            fail("more than two files given");
        }
    }
    if (!model_option.empty()) {  // -m IN: the one positional file is OUT
        if (!out.empty()) fail("more than two files given");
        out = in;
        in = model_option;
    }
    if (!random.empty() && out.empty()) std::swap(in, out);  // --random CONFIG OUT: the one file is OUT
    if ((in.empty() && random.empty()) || out.empty() || (!in.empty() && !random.empty())) {
        fail("pass the input and the output file (or --random CONFIG and the output file)");
    }
    if (format.empty()) format = out.ends_with(".gguf") ? "gguf" : out.ends_with(".bin") ? "llama2c" : "safetensors";
    if (format != "gguf" && format != "safetensors" && format != "llama2c") {
        fail("unknown format '" + format + "' (gguf, safetensors, llama2c)");
    }
    if (format != "gguf" && !type.empty()) fail("--type applies to GGUF output only");
    if (format != "gguf" && !tokenizer_path.empty()) fail("--tokenizer applies to GGUF output only");
    if (format != "gguf" && !head_type.empty()) fail("--head-type applies to GGUF output only");
    std::optional<ternary::bitnet::float_format> head_format;
    if (!head_type.empty()) {
        head_format = ternary::bitnet::float_format_named(head_type);
        const auto block = head_format ? ternary::bitnet::block_type_of(*head_format) : std::nullopt;
        if (!head_format || (block && !ternary::can_quantize_to(*block)) || head_type != ternary::bitnet::format_name(*head_format)) {
            fail("--head-type takes f32, f16, bf16, q8_0, q6_k or q4_k, not '" + head_type + "'");
        }
    }
    try {
        if (threads != 0) ternary::set_threads(threads);
        ternary::io::any_model model =
            random.empty() ? ternary::io::load_model(in)
                           : ternary::io::any_model(ternary::bitnet::random_model<ternary::bitnet::ternary_linear<ternary::two_bit>>(
                                 ternary::bitnet::preset_config(random), 42));
        const bool ternary_model = std::holds_alternative<ternary::io::ternary_model>(model);
        if (format == "safetensors") {
            ternary::io::safetensors_save_options options;
            options.progress = [](std::size_t done, std::size_t total) { progress(done, total, "encode"); };
            std::visit([&](const auto& m) { ternary::io::save_safetensors(m, out, options); }, model);
            const auto bytes = std::filesystem::file_size(std::filesystem::path(out) / "model.safetensors");
            std::fprintf(stderr, "wrote %s: config.json and model.safetensors (%ju bytes), linears %s\n", out.c_str(),
                         static_cast<std::uintmax_t>(bytes), ternary_model ? "packed U8 (autobitlinear)" : "as stored");
            return 0;
        }
        if (format == "llama2c") {
            // llama2.c's legacy float format, or bitllama2.c's ak42 for ternary models.
            const std::vector<std::uint8_t> bytes = std::visit([](const auto& m) {
                if constexpr (std::is_same_v<std::decay_t<decltype(m)>, ternary::io::float_model>) {
                    return ternary::io::llama2c_bytes(m);
                } else {
                    return ternary::io::ak42_bytes(m);
                }
            }, model);
            std::ofstream file(out, std::ios::binary);
            file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            file.close();
            if (!file) fail("cannot write '" + out + "'");
            std::fprintf(stderr, "wrote %s: %zu bytes, %s\n", out.c_str(), bytes.size(),
                         ternary_model ? "bitllama2.c ak42 v1" : "llama2.c legacy float");
            return 0;
        }
        if (type.empty()) type = ternary_model ? "i2_s" : "f32";
        ternary::io::gguf_save_options options;
        if (type == "i2_s") options.linear_type = ternary::io::gguf_linear_type::i2_s;
        else if (type == "tq2_0") options.linear_type = ternary::io::gguf_linear_type::tq2_0;
        else if (type == "tq1_0") options.linear_type = ternary::io::gguf_linear_type::tq1_0;
        else if (type == "f16") options.linear_type = ternary::io::gguf_linear_type::f16;
        else if (type == "f32") options.linear_type = ternary::io::gguf_linear_type::f32;
        else fail("unknown type '" + type + "'");
        options.head_format = head_format;
        options.progress = [](std::size_t done, std::size_t total) { progress(done, total, "encode"); };
        // The tokenizer travels with the model: --tokenizer, or the input GGUF's own.
        std::optional<ternary::tokenizer::any_tokenizer> tokenizer;
        if (!tokenizer_path.empty()) tokenizer = ternary::tokenizer::load_tokenizer(tokenizer_path);
        else if (!in.empty()) tokenizer = ternary::tokenizer::tokenizer_of_model(in);
        if (tokenizer) {
            const std::size_t vocab = std::visit([](const auto& m) { return m.config().vocab_size; }, model);
            if (tokenizer->vocab_size() > vocab) {
                fail("the tokenizer has " + std::to_string(tokenizer->vocab_size()) + " tokens, more than the model's " +
                     std::to_string(vocab));
            }
            options.metadata = tokenizer->gguf_metadata();
        }

        const ternary::io::gguf_writer writer = std::visit([&](const auto& m) { return ternary::io::gguf_of(m, options); }, model);
        std::ofstream file(out, std::ios::binary);
        if (!file) fail("cannot create '" + out + "'");
        std::size_t written = 0;
        writer.write([&](const std::uint8_t* p, std::size_t n) {
            file.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
            written += n;
        });
        file.close();
        if (!file) fail("cannot write '" + out + "'");
        std::fprintf(stderr, "wrote %s: %zu bytes, linears as %s%s\n", out.c_str(), written, type.c_str(),
                     tokenizer ? ", with its tokenizer" : "");
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-convert: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
