#pragma once
// Tiny SentencePiece .model files (protobuf ModelProto, sentencepiece_model.proto) written byte
// by byte from the wire format: for the SentencePiece tests (which also corrupt them) and the
// fuzzers' seeds.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace test::spm {

using bytes = std::vector<std::uint8_t>;

inline void put_varint(bytes& b, std::uint64_t v) {
    while (v >= 0x80) {
        b.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    b.push_back(static_cast<std::uint8_t>(v));
}

/// A field's tag: number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited, 3 and 4
/// groups, 5 fixed32).
inline void put_tag(bytes& b, std::uint32_t number, unsigned wire) { put_varint(b, std::uint64_t{number} << 3 | wire); }

inline void put_varint_field(bytes& b, std::uint32_t number, std::uint64_t v) {
    put_tag(b, number, 0);
    put_varint(b, v);
}

/// An int32 field: negative values are sign-extended to 10 bytes, as protobuf writes them.
inline void put_int32_field(bytes& b, std::uint32_t number, std::int32_t v) {
    put_varint_field(b, number, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
}

inline void put_bytes_field(bytes& b, std::uint32_t number, std::string_view s) {
    put_tag(b, number, 2);
    put_varint(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
}

inline void put_bytes_field(bytes& b, std::uint32_t number, const bytes& s) {
    put_bytes_field(b, number, std::string_view(reinterpret_cast<const char*>(s.data()), s.size()));
}

inline void put_float_field(bytes& b, std::uint32_t number, float v) {
    put_tag(b, number, 5);
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
}

/// Piece types of sentencepiece_model.proto.
enum type : int { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct piece {
    std::string text;
    float score = 0.0f;
    int type = normal;
};

/// A SentencePiece message; the type is left out when it is NORMAL (the default), as
/// sentencepiece writes it.
inline bytes piece_message(const piece& p) {
    bytes b;
    put_bytes_field(b, 1, p.text);
    put_float_field(b, 2, p.score);
    if (p.type != normal) put_varint_field(b, 3, static_cast<std::uint64_t>(p.type));
    return b;
}

struct model {
    std::vector<piece> pieces;
    int model_type = 2;  // BPE
    bool byte_fallback = false;
    std::int32_t unk_id = 0, bos_id = 1, eos_id = 2;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = false;
    std::string normalizer_name = "identity";
    std::string charsmap;  // a precompiled character map (not implemented by the reader)
};

/// The ModelProto in sentencepiece's field order: pieces, trainer_spec, normalizer_spec.
inline bytes model_proto(const model& m) {
    bytes b;
    for (const auto& p : m.pieces) put_bytes_field(b, 1, piece_message(p));
    bytes trainer;
    put_varint_field(trainer, 3, static_cast<std::uint64_t>(m.model_type));
    put_varint_field(trainer, 4, m.pieces.size());  // vocab_size: a training parameter, ignored
    put_varint_field(trainer, 35, m.byte_fallback ? 1 : 0);
    put_int32_field(trainer, 40, m.unk_id);
    put_int32_field(trainer, 41, m.bos_id);
    put_int32_field(trainer, 42, m.eos_id);
    put_int32_field(trainer, 43, -1);  // pad_id
    put_bytes_field(b, 2, trainer);
    bytes normalizer;
    put_bytes_field(normalizer, 1, m.normalizer_name);
    put_bytes_field(normalizer, 2, m.charsmap);
    put_varint_field(normalizer, 3, m.add_dummy_prefix ? 1 : 0);
    put_varint_field(normalizer, 4, m.remove_extra_whitespaces ? 1 : 0);
    put_bytes_field(b, 3, normalizer);
    return b;
}

/// A 7-piece BPE model without byte fallback:
///   0 <unk> (unknown)  1 <s> (control)  2 </s> (control)
///   3 "▁" -1   4 "a" -1   5 "b" -1   6 "ab" -2
inline model small_model() {
    model m;
    m.pieces = {{"<unk>", 0, unknown}, {"<s>", 0, control}, {"</s>", 0, control},
                {"\xE2\x96\x81", -1}, {"a", -1}, {"b", -1}, {"ab", -2}};
    return m;
}

}  // namespace test::spm
