#pragma once
// Byte-level BPE tokenizers: Llama 3's (BitNet b1.58 2B4T, formats.md section 2) from a
// tiktoken rank file or GGUF metadata, and GPT-2's from GGUF metadata.
//
// Text is cut into pieces by the pre-tokenizer regex (pretokenize.hpp); the UTF-8 bytes of each
// piece start as one symbol per byte, and the adjacent pair with the lowest rank is merged until
// no pair has a rank (ties: leftmost first). A pair's rank is
//   - from a tiktoken rank file: the rank (= id) of the pair's concatenated bytes (tiktoken's
//     byte_pair_merge); a piece that is a token as a whole is that token;
//   - from GGUF: the index of "left right" in tokenizer.ggml.merges (GPT-2's and llama.cpp's
//     algorithm); with the Llama 3 pre-tokenizer a whole-piece token also wins first, as
//     llama.cpp's ignore_merges does.
// Token strings in GGUF are in GPT-2's byte-to-unicode alphabet (each byte one printable
// character); here every token is kept as its raw bytes.
//
// Special tokens (Llama 3's 256 at 128000+, GGUF control and user-defined tokens) are matched in
// the text only when encode is asked to (allow_special), longest first; otherwise their text is
// ordinary text. Decoding gives bytes, which may end inside a UTF-8 character: streaming_decoder
// holds such bytes back until the character is complete.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
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
#include "pretokenize.hpp"
#include "unicode.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

/// GPT-2's byte-to-unicode map: bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for
/// themselves, the other 68 bytes for U+0100, U+0101, ... in byte order.
constexpr std::array<char32_t, 256> gpt2_byte_to_unicode() noexcept {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (unsigned b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
        map[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return map;
}

/// Bytes written in GPT-2's alphabet (UTF-8).
inline std::string gpt2_encode_bytes(std::string_view bytes) {
    static constexpr auto map = gpt2_byte_to_unicode();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char ch : bytes) out += encode_utf8(map[static_cast<unsigned char>(ch)]);
    return out;
}

/// The bytes a string in GPT-2's alphabet stands for, or nullopt if it has a character outside it.
inline std::optional<std::string> gpt2_decode_bytes(std::string_view text) {
    static constexpr auto inverse = [] {
        std::array<std::int16_t, 324> table{};  // the alphabet ends at U+0143
        for (auto& v : table) v = -1;
        const auto map = gpt2_byte_to_unicode();
        for (std::size_t b = 0; b < 256; ++b) table[map[b]] = static_cast<std::int16_t>(b);
        return table;
    }();
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const utf8_char c = decode_utf8(text, pos);
        if (c.length == 1 && c.code_point == replacement_character) return std::nullopt;  // not UTF-8
        if (c.code_point >= inverse.size() || inverse[c.code_point] < 0) return std::nullopt;
        out += static_cast<char>(static_cast<unsigned char>(inverse[c.code_point]));
        pos += c.length;
    }
    return out;
}

/// The names of Llama 3's 256 special tokens, in id order from 128000 (formats.md section 2).
inline std::vector<std::string> llama3_special_tokens() {
    std::vector<std::string> names = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                      "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                                      "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                                      "<|reserved_special_token_4|>", "<|eot_id|>"};
    for (int i = 5; names.size() < 256; ++i) names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
    return names;
}

class bpe_tokenizer {
public:
    /// Reads a tiktoken rank file (Llama 3's tokenizer.model) and adds Llama 3's 256 special
    /// tokens after its ranks; BOS and EOS are <|begin_of_text|> and <|end_of_text|>.
    static bpe_tokenizer load_tiktoken(const std::string& path) {
        const auto bytes = io::read_file(path);
        return from_tiktoken(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
    }

    /// The same from the file's text in memory; `name` names it in error messages. Each
    /// non-empty line is `base64(token bytes) rank`; the ranks must be 0..n-1, each once, and
    /// are the ids. Uses the Llama 3 pre-tokenizer.
    static bpe_tokenizer from_tiktoken(std::string_view text, const std::string& name) {
        std::size_t lines = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string_view::npos) end = text.size();
            if (end > pos && !(end == pos + 1 && text[pos] == '\r')) ++lines;
            pos = end + 1;
        }
        bpe_tokenizer t;
        t.name_ = name;
        t.tokens_.resize(lines);
        std::vector<std::size_t> line_of_rank(lines, 0);
        t.ids_.reserve(lines);
        std::size_t line_number = 0;
        for (std::size_t pos = 0; pos < text.size();) {
            std::size_t end = text.find('\n', pos);
            if (end == std::string_view::npos) end = text.size();
            std::string_view line = text.substr(pos, end - pos);
            pos = end + 1;
            ++line_number;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) continue;
            const std::size_t space = line.find(' ');
            if (space == std::string_view::npos) {
                ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, " is not 'base64 rank'");
            }
            std::string bytes;
            if (!decode_base64(line.substr(0, space), bytes) || bytes.empty()) {
                ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, ": '", line.substr(0, space),
                                                    "' is not base64 of a non-empty token");
            }
            const std::string_view rank_text = line.substr(space + 1);
            std::size_t rank = 0;
            bool digits = !rank_text.empty() && rank_text.size() <= 10;
            for (const char ch : rank_text) {
                if (ch < '0' || ch > '9') digits = false;
                rank = rank * 10 + static_cast<std::size_t>(ch - '0');
            }
            if (!digits) ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, ": rank '", rank_text, "' is not a number");
            if (rank >= lines) {
                ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, ": rank ", rank,
                                                    " is out of range (the ", lines, " ranks must be 0..", lines - 1, ")");
            }
            if (line_of_rank[rank] != 0) {
                ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, ": rank ", rank,
                                                    " was already given on line ", line_of_rank[rank]);
            }
            line_of_rank[rank] = line_number;
            const auto [it, inserted] = t.ids_.emplace(bytes, static_cast<std::uint32_t>(rank));
            if (!inserted) {
                ternary::detail::fail<format_error>(name.c_str(), "line ", line_number, ": the token of rank ", rank,
                                                    " repeats that of rank ", it->second);
            }
            t.tokens_[rank] = std::move(bytes);
        }
        t.special_.assign(lines, false);
        for (const auto& special : llama3_special_tokens()) t.add_special(special);
        t.bos_ = lines;
        t.eos_ = lines + 1;
        t.pre_ = pretokenizer::llama3;
        t.use_merges_ = false;
        t.whole_piece_first_ = true;
        t.finish();
        return t;
    }

    /// Reads the tokenizer of a GGUF file (e.g. a vocab-only one).
    static bpe_tokenizer load_gguf(const std::string& path) {
        const auto bytes = io::read_file(path);
        return from_gguf(io::gguf_file::parse(bytes, path), path);
    }

    /// The tokenizer in a GGUF file's metadata (tokenizer.ggml.model must be "gpt2"):
    /// tokenizer.ggml.tokens, .merges, .token_type (optional), .bos_token_id and .eos_token_id
    /// (optional) and .pre (optional: "llama-bpe" or "llama3" choose the Llama 3 pre-tokenizer,
    /// "gpt-2" or "default" GPT-2's; without it, 128256 tokens mean Llama 3 as in the official
    /// 2B4T file). `name` names the file in error messages.
    static bpe_tokenizer from_gguf(const io::gguf_file& file, const std::string& name) {
        const char* where = name.c_str();
        const std::string& model = get<std::string>(file, "tokenizer.ggml.model", where);
        if (model != "gpt2") {
            ternary::detail::fail<format_error>(where, "tokenizer.ggml.model is '", model, "', not the byte-level BPE 'gpt2'");
        }
        const io::gguf_array& tokens = string_array(file, "tokenizer.ggml.tokens", where);
        const io::gguf_array& merges = string_array(file, "tokenizer.ggml.merges", where);
        const io::gguf_array* types = nullptr;
        if (file.find("tokenizer.ggml.token_type") != nullptr) {
            types = &get<io::gguf_array>(file, "tokenizer.ggml.token_type", where);
            if (types->element != io::gguf_type::i32 || types->values.size() != tokens.values.size()) {
                ternary::detail::fail<format_error>(where, "tokenizer.ggml.token_type must be ", tokens.values.size(),
                                                    " i32 values, one per token");
            }
        }
        if (tokens.values.empty() || tokens.values.size() >= (std::size_t{1} << 31)) {
            ternary::detail::fail<format_error>(where, "tokenizer.ggml.tokens has ", tokens.values.size(), " tokens");
        }
        bpe_tokenizer t;
        t.name_ = name;
        const std::size_t n = tokens.values.size();
        t.tokens_.reserve(n);
        t.special_.reserve(n);
        t.ids_.reserve(n);
        for (std::size_t id = 0; id < n; ++id) {
            const std::string& text = std::get<std::string>(tokens.values[id].value);
            const std::int32_t type = types != nullptr ? std::get<std::int32_t>(types->values[id].value) : 1;
            if (type == 3 || type == 4) {  // control and user-defined tokens: their text as it is
                t.tokens_.push_back(text);
                t.special_.push_back(true);
                continue;
            }
            auto bytes = gpt2_decode_bytes(text);
            if (!bytes || bytes->empty()) {
                ternary::detail::fail<format_error>(where, "token ", id, " '", text, "' is not a string in GPT-2's byte alphabet");
            }
            const auto [it, inserted] = t.ids_.emplace(*bytes, static_cast<std::uint32_t>(id));
            if (!inserted) ternary::detail::fail<format_error>(where, "token ", id, " '", text, "' repeats token ", it->second);
            t.tokens_.push_back(std::move(*bytes));
            t.special_.push_back(false);
        }
        t.merges_.reserve(merges.values.size());
        for (std::size_t rank = 0; rank < merges.values.size(); ++rank) {
            const std::string& merge = std::get<std::string>(merges.values[rank].value);
            const std::size_t space = merge.find(' ', 1);
            if (space == std::string::npos) ternary::detail::fail<format_error>(where, "merge ", rank, " '", merge, "' is not 'left right'");
            const auto left = gpt2_decode_bytes(std::string_view(merge).substr(0, space));
            const auto right = gpt2_decode_bytes(std::string_view(merge).substr(space + 1));
            const auto id_of = [&](const std::optional<std::string>& bytes) -> std::uint32_t {
                const auto found = bytes ? t.ids_.find(*bytes) : t.ids_.end();
                if (found == t.ids_.end()) {
                    ternary::detail::fail<format_error>(where, "merge ", rank, " '", merge, "' refers to an unknown token");
                }
                return found->second;
            };
            const std::uint32_t left_id = id_of(left), right_id = id_of(right);
            const std::uint32_t merged = id_of(*left + *right);
            t.merges_.emplace(pair_key(left_id, right_id), merge_entry{static_cast<std::uint32_t>(rank), merged});  // first wins
        }
        t.bos_ = optional_id(file, "tokenizer.ggml.bos_token_id", n, where);
        t.eos_ = optional_id(file, "tokenizer.ggml.eos_token_id", n, where);
        if (file.find("tokenizer.ggml.pre") != nullptr) {
            const std::string& pre = get<std::string>(file, "tokenizer.ggml.pre", where);
            if (pre == "llama-bpe" || pre == "llama3") {
                t.pre_ = pretokenizer::llama3;
            } else if (pre == "gpt-2" || pre == "default") {
                t.pre_ = pretokenizer::gpt2;
            } else {
                ternary::detail::fail<format_error>(where, "tokenizer.ggml.pre '", pre,
                                                    "' is not a known pre-tokenizer (llama-bpe, llama3, gpt-2, default)");
            }
        } else {
            t.pre_ = n == 128256 ? pretokenizer::llama3 : pretokenizer::gpt2;
        }
        t.use_merges_ = true;
        t.whole_piece_first_ = t.pre_ == pretokenizer::llama3;
        t.finish();
        return t;
    }

    std::size_t vocab_size() const noexcept { return tokens_.size(); }
    pretokenizer pre() const noexcept { return pre_; }
    std::optional<std::size_t> bos() const noexcept { return bos_; }
    std::optional<std::size_t> eos() const noexcept { return eos_; }

    /// The bytes of a token (a special token's text); value_error if id is out of range.
    const std::string& token_bytes(std::size_t id) const {
        check_id(id, "bpe_tokenizer::token_bytes");
        return tokens_[id];
    }

    /// Whether a token is special (matched in text only with allow_special).
    bool is_special(std::size_t id) const {
        check_id(id, "bpe_tokenizer::is_special");
        return special_[id];
    }

    /// The id of the ordinary token with these bytes or the special token with this text.
    std::optional<std::size_t> find(std::string_view bytes) const {
        if (const auto found = ids_.find(bytes); found != ids_.end()) return found->second;
        for (const std::uint32_t id : specials_) {
            if (tokens_[id] == bytes) return id;
        }
        return std::nullopt;
    }

    /// The ids of text: BOS first if add_bos (value_error if there is none); special tokens'
    /// texts become those tokens only if allow_special. Any bytes encode, valid UTF-8 or not.
    std::vector<std::size_t> encode(std::string_view text, bool add_bos, bool allow_special) const {
        std::vector<std::size_t> ids;
        if (add_bos) {
            if (!bos_) ternary::detail::fail<value_error>("bpe_tokenizer::encode", name_, " has no BOS token");
            ids.push_back(*bos_);
        }
        if (!allow_special || specials_.empty()) {
            encode_ordinary(text, ids);
            return ids;
        }
        std::size_t start = 0;  // of the ordinary text not yet encoded
        for (std::size_t pos = 0; pos < text.size();) {
            const auto first = static_cast<unsigned char>(text[pos]);
            std::size_t matched = 0;
            if (special_first_[first]) {
                for (const std::uint32_t id : specials_) {  // longest first
                    if (text.substr(pos).starts_with(tokens_[id])) {
                        encode_ordinary(text.substr(start, pos - start), ids);
                        ids.push_back(id);
                        matched = tokens_[id].size();
                        break;
                    }
                }
            }
            if (matched != 0) {
                pos += matched;
                start = pos;
            } else {
                ++pos;
            }
        }
        encode_ordinary(text.substr(start), ids);
        return ids;
    }

    /// The bytes of ids, concatenated (special tokens give their text); value_error for an id
    /// out of range. The result need not be valid UTF-8 (it is wherever encode's input was).
    std::string decode(std::span<const std::size_t> ids) const {
        std::string out;
        for (const std::size_t id : ids) {
            check_id(id, "bpe_tokenizer::decode");
            out += tokens_[id];
        }
        return out;
    }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    struct merge_entry {
        std::uint32_t rank;
        std::uint32_t merged;  // the id of the concatenation
    };

    static constexpr std::uint64_t pair_key(std::uint32_t left, std::uint32_t right) noexcept {
        return (std::uint64_t{left} << 32) | right;
    }

    static bool decode_base64(std::string_view text, std::string& out) {
        if (text.size() % 4 != 0) return false;
        const auto value = [](char ch) -> int {
            if (ch >= 'A' && ch <= 'Z') return ch - 'A';
            if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
            if (ch >= '0' && ch <= '9') return ch - '0' + 52;
            if (ch == '+') return 62;
            if (ch == '/') return 63;
            return -1;
        };
        out.clear();
        for (std::size_t i = 0; i < text.size(); i += 4) {
            const bool last = i + 4 == text.size();
            const std::size_t padding = last ? (text[i + 3] == '=' ? (text[i + 2] == '=' ? 2u : 1u) : 0u) : 0u;
            std::uint32_t group = 0;
            for (std::size_t k = 0; k < 4; ++k) {
                const int v = k < 4 - padding ? value(text[i + k]) : 0;
                if (v < 0) return false;
                group = (group << 6) | static_cast<std::uint32_t>(v);
            }
            out += static_cast<char>(static_cast<unsigned char>(group >> 16));
            if (padding < 2) out += static_cast<char>(static_cast<unsigned char>(group >> 8));
            if (padding < 1) out += static_cast<char>(static_cast<unsigned char>(group));
            // Bits that padding drops must be zero (canonical base64).
            if ((padding == 1 && (group & 0xFF) != 0) || (padding == 2 && (group & 0xFFFF) != 0)) return false;
        }
        return true;
    }

    template <class T>
    static const T& get(const io::gguf_file& file, std::string_view key, const char* where) {
        const io::gguf_value* v = file.find(key);
        if (v == nullptr) ternary::detail::fail<format_error>(where, "no metadata key '", key, "'");
        const T* value = std::get_if<T>(&v->value);
        if (value == nullptr) ternary::detail::fail<format_error>(where, "metadata '", key, "' has another type");
        return *value;
    }

    static const io::gguf_array& string_array(const io::gguf_file& file, std::string_view key, const char* where) {
        const auto& array = get<io::gguf_array>(file, key, where);
        if (array.element != io::gguf_type::string) ternary::detail::fail<format_error>(where, "'", key, "' is not an array of strings");
        return array;
    }

    static std::optional<std::size_t> optional_id(const io::gguf_file& file, std::string_view key, std::size_t n,
                                                  const char* where) {
        const io::gguf_value* v = file.find(key);
        if (v == nullptr) return std::nullopt;
        std::optional<std::uint64_t> id;
        if (const auto* u32 = std::get_if<std::uint32_t>(&v->value)) id = *u32;
        if (const auto* i32 = std::get_if<std::int32_t>(&v->value); i32 != nullptr && *i32 >= 0) id = static_cast<std::uint64_t>(*i32);
        if (const auto* u64 = std::get_if<std::uint64_t>(&v->value)) id = *u64;
        if (!id || *id >= n) ternary::detail::fail<format_error>(where, "'", key, "' is not a token id below ", n);
        return static_cast<std::size_t>(*id);
    }

    void add_special(const std::string& text) {
        tokens_.push_back(text);
        special_.push_back(true);
    }

    /// Checks the 256 single-byte tokens and indexes the special tokens.
    void finish() {
        for (unsigned b = 0; b < 256; ++b) {
            const auto found = ids_.find(std::string_view(std::string(1, static_cast<char>(b))));
            if (found == ids_.end()) {
                ternary::detail::fail<format_error>(name_.c_str(), "no token for the byte ", b, ": byte-level BPE needs all 256");
            }
            byte_ids_[b] = found->second;
        }
        for (std::size_t id = 0; id < tokens_.size(); ++id) {
            if (special_[id] && !tokens_[id].empty()) {
                specials_.push_back(static_cast<std::uint32_t>(id));
                special_first_[static_cast<unsigned char>(tokens_[id][0])] = true;
            }
        }
        std::stable_sort(specials_.begin(), specials_.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return tokens_[a].size() > tokens_[b].size(); });
    }

    void check_id(std::size_t id, const char* where) const {
        if (id >= tokens_.size()) ternary::detail::fail<value_error>(where, "token id ", id, " is not below the vocabulary size ", tokens_.size());
    }

    void encode_ordinary(std::string_view text, std::vector<std::size_t>& ids) const {
        split_pieces(pre_, text, [&](std::string_view piece) { encode_piece(piece, ids); });
    }

    /// BPE on one piece (see the top of this file).
    void encode_piece(std::string_view piece, std::vector<std::size_t>& ids) const {
        if (piece.size() == 1) {
            ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
            return;
        }
        if (whole_piece_first_) {
            if (const auto found = ids_.find(piece); found != ids_.end()) {
                ids.push_back(found->second);
                return;
            }
        }
        static constexpr std::size_t none = static_cast<std::size_t>(-1);
        struct symbol {
            std::size_t begin, end;  // bytes of the piece; end == 0 once merged into its left neighbour
            std::size_t prev, next;  // neighbours, or none
            std::uint32_t id;
        };
        struct candidate {
            std::uint32_t rank;
            std::size_t left;        // the left symbol's index (= its first byte)
            std::size_t left_end;    // the pair's bytes when it was ranked: still the same pair if
            std::size_t right_end;   // the left symbol is alive and both ends are unchanged
            std::uint32_t merged;
            bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
        };
        std::vector<symbol> symbols(piece.size());
        for (std::size_t i = 0; i < piece.size(); ++i) {
            symbols[i] = {i, i + 1, i == 0 ? none : i - 1, i + 1 == piece.size() ? none : i + 1,
                          byte_ids_[static_cast<unsigned char>(piece[i])]};
        }
        std::priority_queue<candidate, std::vector<candidate>, std::greater<>> queue;
        const auto rank_pair = [&](std::size_t left) {
            if (left == none || symbols[left].next == none) return;
            const symbol& l = symbols[left];
            const symbol& r = symbols[l.next];
            if (use_merges_) {
                const auto found = merges_.find(pair_key(l.id, r.id));
                if (found != merges_.end()) queue.push({found->second.rank, left, l.end, r.end, found->second.merged});
            } else {
                const auto found = ids_.find(piece.substr(l.begin, r.end - l.begin));
                if (found != ids_.end()) queue.push({found->second, left, l.end, r.end, found->second});
            }
        };
        for (std::size_t i = 0; i + 1 < piece.size(); ++i) rank_pair(i);
        while (!queue.empty()) {
            const candidate c = queue.top();
            queue.pop();
            symbol& l = symbols[c.left];
            if (l.end != c.left_end || l.next == none || symbols[l.next].end != c.right_end) continue;  // stale
            symbol& r = symbols[l.next];
            l.end = r.end;
            l.id = c.merged;
            l.next = r.next;
            if (r.next != none) symbols[r.next].prev = c.left;
            r.end = 0;
            rank_pair(l.prev);
            rank_pair(c.left);
        }
        for (std::size_t i = 0; i != none; i = symbols[i].next) ids.push_back(symbols[i].id);
    }

    std::string name_;
    std::vector<std::string> tokens_;  // bytes of each id; text of special tokens
    std::vector<bool> special_;
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> ids_;  // ordinary tokens by bytes
    std::unordered_map<std::uint64_t, merge_entry> merges_;                           // GGUF only
    std::array<std::uint32_t, 256> byte_ids_{};
    std::vector<std::uint32_t> specials_;  // ids of special tokens with text, longest first
    std::array<bool, 256> special_first_{};  // first bytes of special tokens
    std::optional<std::size_t> bos_, eos_;
    pretokenizer pre_ = pretokenizer::gpt2;
    bool use_merges_ = false;
    bool whole_piece_first_ = false;
};

/// Turns ids into text as they arrive: bytes that end inside a UTF-8 character are held back
/// until the character is complete, so each piece printed is whole characters. Bytes that can
/// never become valid UTF-8 are passed on as they are.
class streaming_decoder {
public:
    explicit streaming_decoder(const bpe_tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

    /// The text that token completes (possibly empty); value_error for an id out of range.
    std::string push(std::size_t id) {
        pending_ += tokenizer_->token_bytes(id);
        const std::size_t ready = pending_.size() - incomplete_utf8_tail(pending_);
        std::string out = pending_.substr(0, ready);
        pending_.erase(0, ready);
        return out;
    }

    /// The bytes still held back (an incomplete character at the end of the stream), cleared.
    std::string finish() { return std::exchange(pending_, std::string()); }

private:
    const bpe_tokenizer* tokenizer_;
    std::string pending_;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
