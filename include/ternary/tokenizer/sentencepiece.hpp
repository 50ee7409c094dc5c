#pragma once
// SentencePiece BPE tokenizers (Llama 2, Phi-3, TinyLlama, llama2.c's tok512 models), from a
// SentencePiece .model file (a protobuf ModelProto, read by the small strict wire-format reader
// below) or from GGUF metadata (tokenizer.ggml.model = "llama").
//
// Encoding follows llama.cpp's llm_tokenizer_spm and sentencepiece's bpe_model.cc:
//  - the text's spaces become U+2581 "▁", and a "▁" is put in front of it (the dummy prefix,
//    add_space_prefix) so that "world" and "hello world" end in the same pieces; with
//    allow_special, each stretch of text between special tokens is treated so;
//  - the symbols start as the UTF-8 characters of that text (each byte of invalid UTF-8 a symbol
//    of its own); the adjacent pair whose concatenation is a piece with the highest score is
//    merged (leftmost on ties), until no pair is a piece. A heap of candidate pairs keeps this
//    O(n log n), and where no piece has a "▁" after another character (Llama 2), each word
//    is merged on its own, which gives the same pieces in linear time;
//  - each final symbol is its piece's id; a symbol that is no piece (a character the
//    vocabulary lacks) becomes its bytes as the byte tokens <0xHH> (byte fallback), or, without
//    them, the unknown token (one for each run of unknown characters, as sentencepiece does).
//    A merged piece of type UNUSED is split back into the two symbols it was merged from.
// Only NORMAL and UNUSED pieces are merge results and only NORMAL pieces are output for text:
// control and user-defined pieces (<s>, <|user|>) come only from their exact text with
// allow_special, and byte and unknown pieces only from the fallback.
//
// The two sources follow their reference implementations where these differ: a .model file is
// normalized as sentencepiece does (remove_extra_whitespaces is honoured; a precompiled
// character map such as NFKC is refused), GGUF metadata as llama.cpp does (no whitespace
// removal unless tokenizer.ggml.remove_extra_whitespaces says so; byte fallback whenever the
// vocabulary has the 256 byte tokens). For Llama 2 both give the same ids.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/file.hpp"
#include "../io/gguf.hpp"
#include "gguf_metadata.hpp"
#include "unicode.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

/// The type of a SentencePiece piece: sentencepiece_model.proto's numbers, which GGUF's
/// tokenizer.ggml.token_type also uses.
enum class spm_piece_type : std::uint8_t {
    normal = 1,        // text
    unknown = 2,       // <unk>
    control = 3,       // <s>, </s>, Phi-3's <|user|>: never produced from text without allow_special
    user_defined = 4,  // treated like control pieces here (see encode)
    unused = 5,        // may be merged through, but is split back for output
    byte = 6,          // <0xHH>, the byte fallback
};

namespace detail {

/// Protobuf wire types (protobuf.dev/programming-guides/encoding).
enum class wire_type : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, start_group = 3, end_group = 4, fixed32 = 5 };

/// One field of a protobuf message.
struct protobuf_field {
    std::uint32_t number = 0;
    wire_type type = wire_type::varint;
    std::uint64_t value = 0;              // varint, fixed32 and fixed64 fields
    std::span<const std::uint8_t> bytes;  // length-delimited fields
    std::size_t offset = 0;               // of the field's tag in the file
    std::size_t payload_offset = 0;       // of a length-delimited field's bytes in the file
};

/// A strict reader of the fields of one protobuf message. Anything the wire format does not
/// allow is a format_error naming the file, the message and the offset: a truncated varint or
/// field, a varint longer than 10 bytes or over 64 bits, a length past the end of the enclosing
/// message, field number 0, wire types 6 and 7, unbalanced groups. Unknown fields of every wire
/// type are skipped by the caller (groups, deprecated but valid, are skipped here).
class protobuf_reader {
public:
    /// message: the bytes of one message, which start at `offset` in the file; where: the file's
    /// name; what: the message's name in error messages.
    protobuf_reader(std::span<const std::uint8_t> message, std::size_t offset, const char* where, std::string what)
        : data_(message), base_(offset), where_(where), what_(std::move(what)) {}

    /// Reads the next field (skipping groups); false at the end of the message.
    bool next(protobuf_field& field) {
        for (;;) {
            if (pos_ == data_.size()) return false;
            field = protobuf_field{};
            field.offset = base_ + pos_;
            const auto [number, type] = read_tag();
            field.number = number;
            field.type = type;
            switch (type) {
                case wire_type::varint: field.value = read_varint("a varint field"); return true;
                case wire_type::fixed64: field.value = read_fixed(8, "a fixed64 field"); return true;
                case wire_type::fixed32: field.value = read_fixed(4, "a fixed32 field"); return true;
                case wire_type::length_delimited: {
                    const std::uint64_t length = read_varint("a length");
                    if (length > data_.size() - pos_) {
                        fail(field.offset, "field ", number, " has length ", length, ", past the end of the ", what_, " (",
                             data_.size() - pos_, " bytes left)");
                    }
                    field.payload_offset = base_ + pos_;
                    field.bytes = data_.subspan(pos_, static_cast<std::size_t>(length));
                    pos_ += static_cast<std::size_t>(length);
                    return true;
                }
                case wire_type::start_group: skip_group(number, field.offset, 1); continue;
                case wire_type::end_group: fail(field.offset, "an end-group tag (field ", number, ") without a start");
            }
        }
    }

    /// A nested message's reader.
    protobuf_reader message(const protobuf_field& f, std::string what) const {
        expect(f, wire_type::length_delimited, what.c_str());
        return protobuf_reader(f.bytes, f.payload_offset, where_, std::move(what));
    }

    std::uint64_t varint(const protobuf_field& f, const char* name) const {
        expect(f, wire_type::varint, name);
        return f.value;
    }

    /// An int32 field: a varint holding a value in int32's range (negative ones sign-extended
    /// to 64 bits, as protobuf writes them).
    std::int32_t int32(const protobuf_field& f, const char* name) const {
        const auto value = static_cast<std::int64_t>(varint(f, name));
        if (value < INT32_MIN || value > INT32_MAX) fail(f.offset, name, " = ", value, " is not an int32");
        return static_cast<std::int32_t>(value);
    }

    bool boolean(const protobuf_field& f, const char* name) const {
        const std::uint64_t value = varint(f, name);
        if (value > 1) fail(f.offset, name, " = ", value, " is not a bool");
        return value == 1;
    }

    float float32(const protobuf_field& f, const char* name) const {
        expect(f, wire_type::fixed32, name);
        const auto bits = static_cast<std::uint32_t>(f.value);
        float value;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    }

    std::string_view string(const protobuf_field& f, const char* name) const {
        expect(f, wire_type::length_delimited, name);
        return {reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size()};
    }

    template <class... Parts>
    [[noreturn]] void fail(std::size_t offset, const Parts&... parts) const {
        ternary::detail::fail<format_error>(where_, "in the ", what_, " at offset ", offset, ": ", parts...);
    }

private:
    static constexpr int max_group_depth = 32;

    static const char* wire_type_name(wire_type t) noexcept {
        switch (t) {
            case wire_type::varint: return "varint";
            case wire_type::fixed64: return "fixed64";
            case wire_type::length_delimited: return "length-delimited";
            case wire_type::start_group: return "start-group";
            case wire_type::end_group: return "end-group";
            case wire_type::fixed32: return "fixed32";
        }
        return "unknown";
    }

    void expect(const protobuf_field& f, wire_type type, const char* name) const {
        if (f.type != type) {
            fail(f.offset, "field ", f.number, " (", name, ") has wire type ", wire_type_name(f.type), ", not ",
                 wire_type_name(type));
        }
    }

    std::uint64_t read_varint(const char* what) {
        const std::size_t start = pos_;
        std::uint64_t value = 0;
        for (unsigned shift = 0;; shift += 7) {
            if (pos_ == data_.size()) fail(base_ + start, "truncated: ", what, " (a varint) runs past the end of the ", what_);
            const unsigned byte = data_[pos_++];
            // The 10th byte holds bit 63 only: a larger value or an 11th byte is malformed.
            if (shift == 63 && byte > 1) fail(base_ + start, what, " is a varint longer than 10 bytes or over 64 bits");
            value |= std::uint64_t{byte & 0x7Fu} << shift;
            if ((byte & 0x80) == 0) return value;
        }
    }

    std::uint64_t read_fixed(std::size_t size, const char* what) {
        if (data_.size() - pos_ < size) {
            fail(base_ + pos_, "truncated: ", what, " needs ", size, " bytes, only ", data_.size() - pos_, " left in the ", what_);
        }
        std::uint64_t value = 0;
        for (std::size_t i = 0; i < size; ++i) value |= std::uint64_t{data_[pos_ + i]} << (8 * i);  // little-endian
        pos_ += size;
        return value;
    }

    std::pair<std::uint32_t, wire_type> read_tag() {
        const std::size_t start = base_ + pos_;
        const std::uint64_t tag = read_varint("a field tag");
        const std::uint64_t number = tag >> 3;
        const unsigned type = static_cast<unsigned>(tag & 7);
        if (number == 0 || number > 0x1FFFFFFF) fail(start, "field number ", number, " is not allowed (1 to 2^29 - 1)");
        if (type > 5) fail(start, "field ", number, " has wire type ", type, ", which does not exist");
        return {static_cast<std::uint32_t>(number), static_cast<wire_type>(type)};
    }

    /// Skips the fields of a group up to its end-group tag.
    void skip_group(std::uint32_t number, std::size_t start, int depth) {
        if (depth > max_group_depth) fail(start, "groups nested deeper than ", max_group_depth);
        for (;;) {
            if (pos_ == data_.size()) fail(start, "the group of field ", number, " has no end before the end of the ", what_);
            const std::size_t offset = base_ + pos_;
            const auto [inner, type] = read_tag();
            switch (type) {
                case wire_type::varint: read_varint("a varint field"); break;
                case wire_type::fixed64: read_fixed(8, "a fixed64 field"); break;
                case wire_type::fixed32: read_fixed(4, "a fixed32 field"); break;
                case wire_type::length_delimited: {
                    const std::uint64_t length = read_varint("a length");
                    if (length > data_.size() - pos_) {
                        fail(offset, "field ", inner, " has length ", length, ", past the end of the ", what_, " (",
                             data_.size() - pos_, " bytes left)");
                    }
                    pos_ += static_cast<std::size_t>(length);
                    break;
                }
                case wire_type::start_group: skip_group(inner, offset, depth + 1); break;
                case wire_type::end_group:
                    if (inner != number) fail(offset, "the group of field ", number, " ends with the end-group tag of field ", inner);
                    return;
            }
        }
    }

    std::span<const std::uint8_t> data_;
    std::size_t base_;
    std::size_t pos_ = 0;
    const char* where_;
    std::string what_;
};

}  // namespace detail

class spm_tokenizer {
public:
    /// Reads a SentencePiece .model file (Meta's Llama 2 tokenizer.model).
    static spm_tokenizer load_model(const std::string& path) { return from_model_proto(io::read_file(path), path); }

    /// A serialized ModelProto (sentencepiece_model.proto); `name` names it in error messages.
    /// Reads the pieces (text, score, type), TrainerSpec's model_type (only BPE is accepted: a
    /// unigram model needs another algorithm), byte_fallback, unk_id, bos_id and eos_id (-1:
    /// none), and NormalizerSpec's add_dummy_prefix, remove_extra_whitespaces and
    /// escape_whitespaces. Refused with a format_error: a precompiled character map (the
    /// nmt_nfkc and nfkc normalizations; "identity" has none), escape_whitespaces = false and
    /// treat_whitespace_as_suffix = true, which are not implemented; byte_fallback without the
    /// 256 byte pieces; anything the wire format does not allow.
    static spm_tokenizer from_model_proto(std::span<const std::uint8_t> bytes, const std::string& name) {
        const char* where = name.c_str();
        vocabulary v;
        // Defaults of sentencepiece_model.proto.
        std::int32_t model_type = 1;  // UNIGRAM
        bool byte_fallback = false, whitespace_as_suffix = false;
        std::int32_t unk_id = 0, bos_id = 1, eos_id = 2;
        normalizer_spec normalizer, denormalizer;
        detail::protobuf_reader model(bytes, 0, where, "ModelProto");
        detail::protobuf_field f;
        while (model.next(f)) {
            switch (f.number) {
                case 1: read_piece(model.message(f, "SentencePiece " + std::to_string(v.pieces.size())), v); break;
                case 2: {  // TrainerSpec (an optional message given twice is merged, so fields overwrite)
                    auto spec = model.message(f, "TrainerSpec");
                    detail::protobuf_field g;
                    while (spec.next(g)) {
                        switch (g.number) {
                            case 3: model_type = spec.int32(g, "model_type"); break;
                            case 24: whitespace_as_suffix = spec.boolean(g, "treat_whitespace_as_suffix"); break;
                            case 35: byte_fallback = spec.boolean(g, "byte_fallback"); break;
                            case 40: unk_id = spec.int32(g, "unk_id"); break;
                            case 41: bos_id = spec.int32(g, "bos_id"); break;
                            case 42: eos_id = spec.int32(g, "eos_id"); break;
                            default: break;  // training parameters
                        }
                    }
                    break;
                }
                case 3: read_normalizer(model.message(f, "NormalizerSpec"), normalizer); break;
                case 5: read_normalizer(model.message(f, "denormalizer NormalizerSpec"), denormalizer); break;
                default: break;  // self_test_data, extensions
            }
        }
        if (v.pieces.empty()) ternary::detail::fail<format_error>(where, "no pieces: not a SentencePiece model");
        if (model_type != 2) {
            static constexpr const char* types[] = {"", "UNIGRAM", "BPE", "WORD", "CHAR"};
            ternary::detail::fail<format_error>(where, "TrainerSpec.model_type is ", model_type,
                                                model_type >= 1 && model_type <= 4 ? std::string(" (") + types[model_type] + ")" : "",
                                                ": only BPE models (2) are supported");
        }
        if (!normalizer.charsmap_empty) {
            ternary::detail::fail<format_error>(where, "the normalizer '", normalizer.name,
                                                "' has a precompiled character map (Unicode normalization such as NFKC), "
                                                "which is not implemented: only 'identity' normalization is");
        }
        if (!denormalizer.charsmap_empty) {
            ternary::detail::fail<format_error>(where, "the denormalizer has a precompiled character map, which is not implemented");
        }
        if (!normalizer.escape_whitespaces) {
            ternary::detail::fail<format_error>(where, "NormalizerSpec.escape_whitespaces is false, which is not implemented");
        }
        if (whitespace_as_suffix) {
            ternary::detail::fail<format_error>(where, "TrainerSpec.treat_whitespace_as_suffix is true, which is not implemented");
        }
        const std::size_t n = v.pieces.size();
        const auto id = [&](std::int32_t value, const char* field) -> std::optional<std::size_t> {
            if (value == -1) return std::nullopt;
            if (value < 0 || static_cast<std::size_t>(value) >= n) {
                ternary::detail::fail<format_error>(where, "TrainerSpec.", field, " = ", value, " is not a piece id below ", n);
            }
            return static_cast<std::size_t>(value);
        };
        v.unk = id(unk_id, "unk_id");
        v.bos = id(bos_id, "bos_id");
        v.eos = id(eos_id, "eos_id");
        v.add_space_prefix = normalizer.add_dummy_prefix;
        v.remove_extra_whitespaces = normalizer.remove_extra_whitespaces;
        v.byte_fallback = byte_fallback ? fallback::required : fallback::off;
        return spm_tokenizer(std::move(v), name);
    }

    /// Reads the tokenizer of a GGUF file (e.g. a vocab-only one).
    static spm_tokenizer load_gguf(const std::string& path) {
        const auto bytes = io::read_file(path);
        return from_gguf(io::gguf_file::parse(bytes, path), path);
    }

    /// The tokenizer in a GGUF file's metadata: tokenizer.ggml.model must be "llama";
    /// tokenizer.ggml.tokens (strings), .scores (f32) and .token_type (i32, spm_piece_type's
    /// numbers), one per token; .bos_token_id, .eos_token_id, .unknown_token_id (optional, any
    /// integer type, -1 for none); .add_space_prefix (optional, default true);
    /// .remove_extra_whitespaces (optional, default false); .add_bos_token (optional, default
    /// true); tokenizer.chat_template (optional). Byte fallback is on when the vocabulary has
    /// byte tokens for all 256 bytes (as in llama.cpp); some but not all is a format_error.
    static spm_tokenizer from_gguf(const io::gguf_file& file, const std::string& name) {
        const char* where = name.c_str();
        const std::string& model = detail::metadata<std::string>(file, "tokenizer.ggml.model", where);
        if (model != "llama") {
            ternary::detail::fail<format_error>(where, "tokenizer.ggml.model is '", model, "', not SentencePiece's 'llama'");
        }
        const io::gguf_array& tokens = detail::metadata_array(file, "tokenizer.ggml.tokens", io::gguf_type::string, where);
        const std::size_t n = tokens.values.size();
        if (n == 0) ternary::detail::fail<format_error>(where, "tokenizer.ggml.tokens has no tokens");
        const io::gguf_array& scores = detail::metadata_array(file, "tokenizer.ggml.scores", io::gguf_type::f32, where, n);
        const io::gguf_array& types = detail::metadata_array(file, "tokenizer.ggml.token_type", io::gguf_type::i32, where, n);
        vocabulary v;
        v.pieces.reserve(n);
        v.scores.reserve(n);
        v.types.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            v.pieces.push_back(std::get<std::string>(tokens.values[i].value));
            v.scores.push_back(std::get<float>(scores.values[i].value));
            const std::int32_t type = std::get<std::int32_t>(types.values[i].value);
            if (type < 1 || type > 6) {
                ternary::detail::fail<format_error>(where, "token ", i, " '", v.pieces.back(), "' has token_type ", type,
                                                    " (1 to 6 are defined)");
            }
            v.types.push_back(static_cast<spm_piece_type>(type));
        }
        v.bos = detail::optional_token_id(file, "tokenizer.ggml.bos_token_id", n, where);
        v.eos = detail::optional_token_id(file, "tokenizer.ggml.eos_token_id", n, where);
        v.unk = detail::optional_token_id(file, "tokenizer.ggml.unknown_token_id", n, where);
        const auto flag = [&](std::string_view key, bool otherwise) {
            const bool* value = detail::optional_metadata<bool>(file, key, where);
            return value != nullptr ? *value : otherwise;
        };
        v.add_space_prefix = flag("tokenizer.ggml.add_space_prefix", true);
        v.remove_extra_whitespaces = flag("tokenizer.ggml.remove_extra_whitespaces", false);
        v.add_bos = flag("tokenizer.ggml.add_bos_token", true);
        if (const auto* jinja = detail::optional_metadata<std::string>(file, "tokenizer.chat_template", where)) {
            v.chat_template = *jinja;
        }
        v.byte_fallback = fallback::if_complete;
        return spm_tokenizer(std::move(v), name);
    }

    std::size_t vocab_size() const noexcept { return pieces_.size(); }
    std::optional<std::size_t> bos() const noexcept { return bos_; }
    std::optional<std::size_t> eos() const noexcept { return eos_; }
    std::optional<std::size_t> unk() const noexcept { return unk_; }

    /// Whether encode puts a "▁" before the text (SentencePiece's add_dummy_prefix), and so
    /// decode drops the first word's leading space.
    bool add_space_prefix() const noexcept { return add_space_prefix_; }
    /// Whether encode drops leading and trailing spaces and collapses runs of spaces
    /// (sentencepiece's remove_extra_whitespaces; false for Llama 2 and Phi-3).
    bool remove_extra_whitespaces() const noexcept { return remove_extra_whitespaces_; }
    /// Whether characters without a piece become byte tokens (else the unknown token).
    bool byte_fallback() const noexcept { return byte_fallback_; }
    /// Whether plain text starts with BOS (GGUF tokenizer.ggml.add_bos_token; true for a
    /// .model file, as for Llama 2), and there is a BOS.
    bool adds_bos() const noexcept { return add_bos_ && bos_.has_value(); }
    /// The chat template stored with a GGUF vocabulary (tokenizer.chat_template), if any.
    std::optional<std::string> chat_template() const { return chat_template_; }

    /// A piece as stored (spaces as "▁"), its score and type; value_error for an id out of range.
    const std::string& piece(std::size_t id) const {
        check_id(id, "spm_tokenizer::piece");
        return pieces_[id];
    }
    float score(std::size_t id) const {
        check_id(id, "spm_tokenizer::score");
        return scores_[id];
    }
    spm_piece_type type(std::size_t id) const {
        check_id(id, "spm_tokenizer::type");
        return types_[id];
    }

    /// The bytes a token stands for in output: a normal (or unused) piece with each "▁" as a
    /// space; a byte piece <0xHH> the single byte HH; control, user-defined and unknown pieces
    /// their text as stored ("<s>", "<|user|>", "<unk>"). value_error for an id out of range.
    const std::string& token_bytes(std::size_t id) const {
        check_id(id, "spm_tokenizer::token_bytes");
        return bytes_[id];
    }

    /// Whether a token is a control or user-defined piece (matched in text only with allow_special).
    bool is_special(std::size_t id) const {
        check_id(id, "spm_tokenizer::is_special");
        return is_special_type(types_[id]);
    }

    /// The id of a piece by its text as stored (spaces as "▁"), of any type.
    std::optional<std::size_t> find(std::string_view piece_text) const {
        const auto found = ids_.find(piece_text);
        if (found == ids_.end()) return std::nullopt;
        return found->second;
    }

    /// The ids of text: BOS first if add_bos (value_error if there is none). With allow_special,
    /// the texts of control and user-defined pieces become those tokens (the longest at each
    /// position), and each stretch of text around them is encoded on its own, with its own dummy
    /// prefix (as llama.cpp does); without it, their text is ordinary text. Any bytes encode:
    /// each byte of invalid UTF-8 is a character of its own, which becomes its byte token (or
    /// the unknown token without byte fallback).
    std::vector<std::size_t> encode(std::string_view text, bool add_bos, bool allow_special) const {
        std::vector<std::size_t> ids;
        if (add_bos) {
            if (!bos_) ternary::detail::fail<value_error>("spm_tokenizer::encode", name_, " has no BOS token");
            ids.push_back(*bos_);
        }
        std::string normalized;
        std::size_t start = 0;  // of the ordinary text not yet encoded
        if (allow_special && !specials_.empty()) {
            for (std::size_t pos = 0; pos < text.size();) {
                const std::uint32_t* match = nullptr;
                if (special_first_[static_cast<unsigned char>(text[pos])]) {
                    for (const std::uint32_t& id : specials_) {  // longest first
                        if (text.substr(pos).starts_with(pieces_[id])) {
                            match = &id;
                            break;
                        }
                    }
                }
                if (match == nullptr) {
                    ++pos;
                    continue;
                }
                encode_ordinary(text.substr(start, pos - start), normalized, ids);
                ids.push_back(*match);
                pos += pieces_[*match].size();
                start = pos;
            }
        }
        encode_ordinary(text.substr(start), normalized, ids);
        return ids;
    }

    /// The text of ids: their token_bytes concatenated, except that with add_space_prefix() the
    /// leading space of the first token that is not special is dropped (it is the dummy prefix
    /// encode adds, as sentencepiece's decode drops it). So decode(encode(s, false, false)) == s
    /// for any s, valid UTF-8 or not, when the vocabulary has byte fallback and a normal piece
    /// "▁" and no remove_extra_whitespaces (Llama 2, Phi-3), unless s holds U+2581 itself
    /// (which SentencePiece cannot tell from a space). value_error for an id out of range.
    std::string decode(std::span<const std::size_t> ids) const {
        std::string out;
        bool strip = add_space_prefix_;
        for (const std::size_t id : ids) {
            check_id(id, "spm_tokenizer::decode");
            std::string_view text = bytes_[id];
            if (strip && !is_special_type(types_[id])) {
                if (text.starts_with(' ')) text.remove_prefix(1);
                strip = false;
            }
            out += text;
        }
        return out;
    }

    /// The vocabulary as GGUF metadata (tokenizer.ggml.*, as llama.cpp writes it), to store
    /// with a model: from_gguf of it gives the same tokenizer, except that a .model without
    /// byte_fallback whose vocabulary has the 256 byte pieces would gain the fallback.
    std::vector<std::pair<std::string, io::gguf_value>> gguf_metadata() const {
        std::vector<std::pair<std::string, io::gguf_value>> out;
        out.emplace_back("tokenizer.ggml.model", io::gguf_value{std::string("llama")});
        io::gguf_array tokens{io::gguf_type::string, {}}, scores{io::gguf_type::f32, {}}, types{io::gguf_type::i32, {}};
        tokens.values.reserve(pieces_.size());
        scores.values.reserve(pieces_.size());
        types.values.reserve(pieces_.size());
        for (std::size_t id = 0; id < pieces_.size(); ++id) {
            tokens.values.push_back({pieces_[id]});
            scores.values.push_back({scores_[id]});
            types.values.push_back({static_cast<std::int32_t>(types_[id])});
        }
        out.emplace_back("tokenizer.ggml.tokens", io::gguf_value{std::move(tokens)});
        out.emplace_back("tokenizer.ggml.scores", io::gguf_value{std::move(scores)});
        out.emplace_back("tokenizer.ggml.token_type", io::gguf_value{std::move(types)});
        const auto put_id = [&](const char* key, const std::optional<std::size_t>& id) {
            if (id) out.emplace_back(key, io::gguf_value{static_cast<std::uint32_t>(*id)});
        };
        put_id("tokenizer.ggml.bos_token_id", bos_);
        put_id("tokenizer.ggml.eos_token_id", eos_);
        put_id("tokenizer.ggml.unknown_token_id", unk_);
        out.emplace_back("tokenizer.ggml.add_bos_token", io::gguf_value{add_bos_});
        out.emplace_back("tokenizer.ggml.add_space_prefix", io::gguf_value{add_space_prefix_});
        if (remove_extra_whitespaces_) out.emplace_back("tokenizer.ggml.remove_extra_whitespaces", io::gguf_value{true});
        if (chat_template_) out.emplace_back("tokenizer.chat_template", io::gguf_value{*chat_template_});
        return out;
    }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    /// When encode falls back to byte tokens.
    enum class fallback {
        off,          // a .model without byte_fallback: the unknown token
        required,     // a .model with byte_fallback: the 256 byte pieces must exist
        if_complete,  // GGUF: when all 256 byte pieces exist (none: the unknown token)
    };

    /// What a source gives the constructor.
    struct vocabulary {
        std::vector<std::string> pieces;
        std::vector<float> scores;
        std::vector<spm_piece_type> types;
        std::optional<std::size_t> bos, eos, unk;
        bool add_space_prefix = true;
        bool remove_extra_whitespaces = false;
        bool add_bos = true;
        fallback byte_fallback = fallback::off;
        std::optional<std::string> chat_template;
    };

    struct normalizer_spec {
        std::string name;
        bool charsmap_empty = true;
        bool add_dummy_prefix = true;
        bool remove_extra_whitespaces = true;
        bool escape_whitespaces = true;
    };

    static constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581 "▁"
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    static bool is_special_type(spm_piece_type t) noexcept {
        return t == spm_piece_type::control || t == spm_piece_type::user_defined;
    }

    static void read_piece(detail::protobuf_reader message, vocabulary& v) {
        std::string piece;
        float score = 0.0f;
        std::int32_t type = 1;  // NORMAL
        detail::protobuf_field f;
        while (message.next(f)) {
            switch (f.number) {
                case 1: piece = message.string(f, "piece"); break;
                case 2: score = message.float32(f, "score"); break;
                case 3:
                    type = message.int32(f, "type");
                    if (type < 1 || type > 6) message.fail(f.offset, "piece type ", type, " is not defined (1 to 6 are)");
                    break;
                default: break;
            }
        }
        v.pieces.push_back(std::move(piece));
        v.scores.push_back(score);
        v.types.push_back(static_cast<spm_piece_type>(type));
    }

    static void read_normalizer(detail::protobuf_reader message, normalizer_spec& spec) {
        detail::protobuf_field f;
        while (message.next(f)) {
            switch (f.number) {
                case 1: spec.name = message.string(f, "name"); break;
                case 2: spec.charsmap_empty = message.string(f, "precompiled_charsmap").empty(); break;
                case 3: spec.add_dummy_prefix = message.boolean(f, "add_dummy_prefix"); break;
                case 4: spec.remove_extra_whitespaces = message.boolean(f, "remove_extra_whitespaces"); break;
                case 5: spec.escape_whitespaces = message.boolean(f, "escape_whitespaces"); break;
                default: break;  // normalization_rule_tsv (used in training only)
            }
        }
    }

    /// The byte a piece "<0xHH>" stands for, or nullopt.
    static std::optional<unsigned char> byte_of_piece(std::string_view p) noexcept {
        if (p.size() != 6 || !p.starts_with("<0x") || p.back() != '>') return std::nullopt;
        const auto hex = [](char ch) -> int {
            if (ch >= '0' && ch <= '9') return ch - '0';
            if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
            if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
            return -1;
        };
        const int hi = hex(p[3]), lo = hex(p[4]);
        if (hi < 0 || lo < 0) return std::nullopt;
        return static_cast<unsigned char>(hi * 16 + lo);
    }

    /// Checks a vocabulary and builds the lookups.
    spm_tokenizer(vocabulary v, const std::string& name)
        : name_(name),
          pieces_(std::move(v.pieces)),
          scores_(std::move(v.scores)),
          types_(std::move(v.types)),
          bos_(v.bos),
          eos_(v.eos),
          unk_(v.unk),
          add_space_prefix_(v.add_space_prefix),
          remove_extra_whitespaces_(v.remove_extra_whitespaces),
          add_bos_(v.add_bos),
          chat_template_(std::move(v.chat_template)) {
        const char* where = name_.c_str();
        const std::size_t n = pieces_.size();
        if (n == 0 || n >= (std::size_t{1} << 31)) ternary::detail::fail<format_error>(where, "the vocabulary has ", n, " pieces");
        ids_.reserve(n);
        bytes_.reserve(n);
        std::array<bool, 256> have_byte{};
        std::size_t byte_pieces = 0;
        for (std::size_t id = 0; id < n; ++id) {
            const std::string& p = pieces_[id];
            if (p.empty()) ternary::detail::fail<format_error>(where, "piece ", id, " is empty");
            // NaN would break the order of the merge queue.
            if (std::isnan(scores_[id])) ternary::detail::fail<format_error>(where, "piece ", id, " '", p, "' has a NaN score");
            const auto [it, inserted] = ids_.emplace(p, static_cast<std::uint32_t>(id));
            if (!inserted) ternary::detail::fail<format_error>(where, "piece ", id, " '", p, "' repeats piece ", it->second);
            switch (types_[id]) {
                case spm_piece_type::normal:
                case spm_piece_type::unused: {
                    std::string text;
                    for (std::size_t pos = 0; pos < p.size();) {
                        if (std::string_view(p).substr(pos).starts_with(space_symbol)) {
                            text += ' ';
                            pos += space_symbol.size();
                        } else {
                            text += p[pos++];
                        }
                    }
                    bytes_.push_back(std::move(text));
                    max_merged_size_ = std::max(max_merged_size_, p.size());
                    if (has_inner_space(p)) words_apart_ = false;
                    break;
                }
                case spm_piece_type::byte: {
                    const auto b = byte_of_piece(p);
                    if (!b) ternary::detail::fail<format_error>(where, "byte piece ", id, " '", p, "' is not <0xHH>");
                    if (have_byte[*b]) ternary::detail::fail<format_error>(where, "byte piece ", id, " '", p, "' repeats an earlier one");
                    have_byte[*b] = true;
                    byte_ids_[*b] = static_cast<std::uint32_t>(id);
                    ++byte_pieces;
                    bytes_.push_back(std::string(1, static_cast<char>(*b)));
                    break;
                }
                case spm_piece_type::unknown:
                case spm_piece_type::control:
                case spm_piece_type::user_defined: bytes_.push_back(p); break;
            }
            if (types_[id] == spm_piece_type::unused) has_unused_ = true;
            if (is_special_type(types_[id])) {
                specials_.push_back(static_cast<std::uint32_t>(id));
                special_first_[static_cast<unsigned char>(p[0])] = true;
            }
        }
        std::stable_sort(specials_.begin(), specials_.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return pieces_[a].size() > pieces_[b].size(); });
        switch (v.byte_fallback) {
            case fallback::off: byte_fallback_ = false; break;
            case fallback::required:
                if (byte_pieces != 256) {
                    ternary::detail::fail<format_error>(where, "byte_fallback is on but only ", byte_pieces,
                                                        " of the 256 byte pieces <0x00>..<0xFF> exist");
                }
                byte_fallback_ = true;
                break;
            case fallback::if_complete:
                if (byte_pieces != 0 && byte_pieces != 256) {
                    ternary::detail::fail<format_error>(where, "the vocabulary has byte tokens for only ", byte_pieces,
                                                        " of the 256 bytes");
                }
                byte_fallback_ = byte_pieces == 256;
                break;
        }
        if (!byte_fallback_ && !unk_) {
            ternary::detail::fail<format_error>(where, "the vocabulary has neither byte fallback nor an unknown token: "
                                                       "characters without a piece could not be encoded");
        }
    }

    void check_id(std::size_t id, const char* where) const {
        if (id >= pieces_.size()) {
            ternary::detail::fail<value_error>(where, "token id ", id, " is not below the vocabulary size ", pieces_.size());
        }
    }

    /// Normalizes a stretch of ordinary text (sentencepiece's normalizer with identity rules)
    /// into `normalized` and encodes it.
    void encode_ordinary(std::string_view text, std::string& normalized, std::vector<std::size_t>& ids) const {
        if (remove_extra_whitespaces_) {
            while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        }
        if (text.empty()) return;  // no dummy prefix for nothing (llama.cpp, sentencepiece)
        normalized.clear();
        normalized.reserve(text.size() + text.size() / 2 + space_symbol.size());
        if (add_space_prefix_) normalized += space_symbol;
        bool previous_space = remove_extra_whitespaces_;
        for (const char ch : text) {
            if (ch != ' ') {
                normalized += ch;
                previous_space = false;
            } else if (!(remove_extra_whitespaces_ && previous_space)) {
                normalized += space_symbol;
                previous_space = true;
            }
        }
        if (remove_extra_whitespaces_) {
            while (std::string_view(normalized).ends_with(space_symbol)) normalized.resize(normalized.size() - space_symbol.size());
        }
        encode_normalized(normalized, ids);
    }

    /// Whether a piece has a "▁" after a character that is not one ("a▁b", "a▁"; not "▁▁a").
    static bool has_inner_space(std::string_view piece) {
        while (piece.starts_with(space_symbol)) piece.remove_prefix(space_symbol.size());
        return piece.find(space_symbol) != std::string_view::npos;
    }

    /// BPE by score on normalized text (see the top of this file). When no mergeable piece has
    /// a "▁" after another character (Llama 2, llama2.c: words_apart_), no merge joins a
    /// character to a following "▁", so each word (its leading "▁"s and what follows up to the
    /// next "▁") is merged on its own with the same result, and in linear time overall rather
    /// than with one priority queue over the whole text.
    void encode_normalized(std::string_view text, std::vector<std::size_t>& ids) const {
        merge_scratch scratch;
        bool previous_unknown = false;  // a run of unknown characters is one unknown token
        if (!words_apart_) {
            encode_word(text, ids, scratch, previous_unknown);
            return;
        }
        std::size_t start = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            const bool space = text.substr(pos).starts_with(space_symbol);
            if (space && pos > start && !text.substr(0, pos).ends_with(space_symbol)) {
                encode_word(text.substr(start, pos - start), ids, scratch, previous_unknown);
                start = pos;
            }
            pos += space ? space_symbol.size() : 1;
        }
        encode_word(text.substr(start), ids, scratch, previous_unknown);
    }

    /// How each symbol was formed: the first nodes are the characters; a merge adds a node
    /// with the two it joined and the piece they formed.
    struct merge_node {
        std::size_t begin, end;
        std::size_t left = none, right = none;
        std::uint32_t id = 0;  // the piece, for merged nodes
    };
    struct merge_symbol {
        std::size_t begin, end;  // bytes of text; end == 0 once merged into its left neighbour
        std::size_t prev, next;  // neighbours, or none
        std::size_t node;        // its merge history (an index into nodes)
    };
    struct merge_candidate {
        float score;
        std::size_t left;  // the left symbol's index
        std::size_t size;  // bytes of the pair: it is stale unless the symbols still span this
        std::uint32_t id;  // the piece the pair forms
        bool operator<(const merge_candidate& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    /// Buffers reused from word to word.
    struct merge_scratch {
        std::vector<merge_symbol> symbols;
        std::vector<merge_node> nodes;
        std::vector<merge_candidate> queue;  // a heap
        std::vector<std::size_t> stack;
    };

    void encode_word(std::string_view text, std::vector<std::size_t>& ids, merge_scratch& scratch, bool& previous_unknown) const {
        if (text.empty()) return;
        auto& symbols = scratch.symbols;
        auto& nodes = scratch.nodes;
        auto& queue = scratch.queue;
        symbols.clear();
        nodes.clear();
        queue.clear();
        for (std::size_t pos = 0; pos < text.size();) {
            const std::size_t length = decode_utf8(text, pos).length;
            const std::size_t i = symbols.size();
            symbols.push_back({pos, pos + length, i == 0 ? none : i - 1, none, i});
            if (has_unused_) nodes.push_back({pos, pos + length});
            pos += length;
            if (pos < text.size()) symbols.back().next = i + 1;
        }
        const auto add_pair = [&](std::size_t left) {
            if (left == none || symbols[left].next == none) return;
            const merge_symbol& l = symbols[left];
            const std::size_t size = symbols[l.next].end - l.begin;
            if (size > max_merged_size_) return;
            const auto found = ids_.find(text.substr(l.begin, size));
            if (found == ids_.end()) return;
            const spm_piece_type t = types_[found->second];
            if (t != spm_piece_type::normal && t != spm_piece_type::unused) return;
            queue.push_back({scores_[found->second], left, size, found->second});
            std::push_heap(queue.begin(), queue.end());
        };
        for (std::size_t i = 0; i + 1 < symbols.size(); ++i) add_pair(i);
        while (!queue.empty()) {
            std::pop_heap(queue.begin(), queue.end());
            const merge_candidate c = queue.back();
            queue.pop_back();
            merge_symbol& l = symbols[c.left];
            // Symbols only grow, so the pair is unchanged exactly when it still spans c.size bytes.
            if (l.end == 0 || l.next == none || symbols[l.next].end - l.begin != c.size) continue;
            merge_symbol& r = symbols[l.next];
            if (has_unused_) {
                nodes.push_back({l.begin, r.end, l.node, r.node, c.id});
                l.node = nodes.size() - 1;
            }
            l.end = r.end;
            l.next = r.next;
            if (r.next != none) symbols[r.next].prev = c.left;
            r.end = 0;
            add_pair(l.prev);
            add_pair(c.left);
        }
        const auto emit_text = [&](std::size_t begin, std::size_t end) {
            const auto found = ids_.find(text.substr(begin, end - begin));
            if (found != ids_.end() && types_[found->second] == spm_piece_type::normal) {
                ids.push_back(found->second);
                previous_unknown = false;
            } else if (byte_fallback_) {
                for (std::size_t i = begin; i < end; ++i) ids.push_back(byte_ids_[static_cast<unsigned char>(text[i])]);
            } else {
                if (!previous_unknown) ids.push_back(*unk_);
                previous_unknown = true;
            }
        };
        // Without unused pieces every merged symbol is a normal piece, found again by its text.
        const std::size_t characters = symbols.size();
        auto& stack = scratch.stack;
        for (std::size_t i = 0; !symbols.empty() && i != none; i = symbols[i].next) {
            const merge_symbol& s = symbols[i];
            if (!has_unused_ || s.node < characters) {
                emit_text(s.begin, s.end);
                continue;
            }
            // Split unused pieces back along their merge history, leftmost part first.
            stack.assign(1, s.node);
            while (!stack.empty()) {
                const merge_node& nd = nodes[stack.back()];
                stack.pop_back();
                if (nd.left == none) {
                    emit_text(nd.begin, nd.end);
                } else if (types_[nd.id] == spm_piece_type::unused) {
                    stack.push_back(nd.right);
                    stack.push_back(nd.left);
                } else {
                    ids.push_back(nd.id);
                    previous_unknown = false;
                }
            }
        }
    }

    std::string name_;
    std::vector<std::string> pieces_;  // as stored, spaces as "▁"
    std::vector<float> scores_;
    std::vector<spm_piece_type> types_;
    std::vector<std::string> bytes_;  // what each token stands for in output
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> ids_;  // every piece
    std::array<std::uint32_t, 256> byte_ids_{};
    std::vector<std::uint32_t> specials_;     // control and user-defined pieces, longest first
    std::array<bool, 256> special_first_{};  // their first bytes
    std::optional<std::size_t> bos_, eos_, unk_;
    std::size_t max_merged_size_ = 0;  // the longest normal or unused piece: no longer pair is one
    bool add_space_prefix_ = true;
    bool remove_extra_whitespaces_ = false;
    bool add_bos_ = true;
    bool byte_fallback_ = false;
    bool has_unused_ = false;
    bool words_apart_ = true;  // no mergeable piece has a "▁" after another character
    std::optional<std::string> chat_template_;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
