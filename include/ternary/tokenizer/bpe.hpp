#pragma once
// Byte-level BPE tokenizers: Llama 3's (BitNet b1.58 2B4T, formats.md section 2) from a
// tiktoken rank file, GGUF metadata or a Hugging Face tokenizer.json, and GPT-2's from GGUF
// metadata or tokenizer.json.
//
// Text is cut into pieces by the pre-tokenizer regex (pretokenize.hpp); the UTF-8 bytes of each
// piece start as one symbol per byte, and the adjacent pair with the lowest rank is merged until
// no pair has a rank (ties: leftmost first). A pair's rank is
//   - from a tiktoken rank file: the rank (= id) of the pair's concatenated bytes (tiktoken's
//     byte_pair_merge); a piece that is a token as a whole is that token;
//   - from GGUF or tokenizer.json: the index of the pair in the merges list (GPT-2's, Hugging
//     Face's and llama.cpp's algorithm); a whole-piece token wins first with tokenizer.json's
//     model.ignore_merges, and in GGUF with the Llama 3 pre-tokenizer (llama.cpp's rule).
// Token strings in GGUF and tokenizer.json are in GPT-2's byte-to-unicode alphabet (each byte
// one printable character); here every token is kept as its raw bytes.
//
// Special tokens (Llama 3's 256 at 128000+, GGUF control and user-defined tokens, every
// tokenizer.json added token) are matched in the text only when encode is asked to
// (allow_special), longest first; otherwise their text is ordinary text. Hugging Face matches
// an added token with "special": false in any text; here it needs allow_special too, like
// GGUF's user-defined tokens (docs/tokenizers.md). Decoding gives bytes, which may end inside a
// UTF-8 character: streaming_decoder (tokenizer.hpp) holds such bytes back.
//
// gguf_metadata() writes any of these as GGUF tokenizer.ggml.* keys. A tiktoken rank file has
// no merges list; merges() derives it as Hugging Face's TikTokenConverter does (the list of the
// official 2B4T GGUF): every way to cut a token into two tokens is a merge, ordered by the
// token's rank, then by the ranks of the two parts. Ranking a pair by the rank of what it makes
// is exactly tiktoken's rule, so BPE with this list gives tiktoken's ids. (One merge per token,
// the two parts that BPE restricted to lower ranks ends with on the token's own bytes, is not
// enough: Llama 3's 28,000 tokens added to cl100k were not learned as merges; 678 of them
// cannot be built that way at all, yet tiktoken builds them inside longer pieces, and others it
// builds there from another cut.)

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
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
#include "../io/json.hpp"
#include "gguf_metadata.hpp"
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

/// The names of Llama 3's 256 special tokens, in id order from 128000, as Meta's llama-models
/// repository names them since Llama 3.1 (its tokenizer code for the tiktoken
/// `tokenizer.model`): 128004 <|finetune_right_pad_id|>, 128005 <|step_id|>, 128008 <|eom_id|>,
/// 128010 <|python_tag|>, then <|reserved_special_token_2|> .. _246|> for 128011 .. 128255.
/// (Llama 3.0 called 128004, 128005, 128008 and 128010 <|reserved_special_token_2..5|> and
/// numbered the rest from 6; a name can stand for one id only, so the 3.1 names are used:
/// docs/tokenizers.md.)
inline std::vector<std::string> llama3_special_tokens() {
    std::vector<std::string> names = {"<|begin_of_text|>",        "<|end_of_text|>",   "<|reserved_special_token_0|>",
                                      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                                      "<|start_header_id|>",      "<|end_header_id|>", "<|eom_id|>",
                                      "<|eot_id|>",               "<|python_tag|>"};
    for (int i = 2; names.size() < 256; ++i) names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
    return names;
}

class bpe_tokenizer {
public:
    using metadata = std::vector<std::pair<std::string, io::gguf_value>>;

    /// Reads a tiktoken rank file (Llama 3's tokenizer.model) and adds Llama 3's 256 special
    /// tokens after its ranks; BOS and EOS are <|begin_of_text|> and <|end_of_text|>.
    static bpe_tokenizer load_tiktoken(const std::string& path) {
        const auto bytes = io::read_file(path);
        return from_tiktoken(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
    }

    /// The same from the file's text in memory; `name` names it in error messages. Each
    /// non-empty line is `base64(token bytes) rank`; the ranks must be 0..n-1, each once, and
    /// are the ids. Uses the Llama 3 pre-tokenizer; plain text starts with BOS (adds_bos).
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
        t.types_.assign(lines, type_normal);
        for (const auto& special : llama3_special_tokens()) t.add_text_token(special, type_control);
        t.bos_ = lines;
        t.eos_ = lines + 1;
        t.add_bos_ = true;
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
    /// tokenizer.ggml.tokens, .merges, .token_type (optional; control (3) and user-defined (4)
    /// tokens are special, their strings taken as they are), .bos_token_id and .eos_token_id
    /// (optional), .pre (optional: "llama-bpe" or "llama3" choose the Llama 3 pre-tokenizer,
    /// "gpt-2" or "default" GPT-2's; without it, 128256 tokens mean Llama 3 as in the official
    /// 2B4T file), .add_bos_token (optional; by default true with the Llama 3 pre-tokenizer and
    /// false with GPT-2's, as llama.cpp does) and tokenizer.chat_template (optional). `name`
    /// names the file in error messages.
    static bpe_tokenizer from_gguf(const io::gguf_file& file, const std::string& name) {
        const char* where = name.c_str();
        const std::string& model = detail::metadata<std::string>(file, "tokenizer.ggml.model", where);
        if (model != "gpt2") {
            ternary::detail::fail<format_error>(where, "tokenizer.ggml.model is '", model, "', not the byte-level BPE 'gpt2'");
        }
        const io::gguf_array& tokens = detail::metadata_array(file, "tokenizer.ggml.tokens", io::gguf_type::string, where);
        const io::gguf_array& merges = detail::metadata_array(file, "tokenizer.ggml.merges", io::gguf_type::string, where);
        const io::gguf_array* types =
            detail::optional_metadata_array(file, "tokenizer.ggml.token_type", io::gguf_type::i32, where, tokens.values.size());
        if (tokens.values.empty() || tokens.values.size() >= (std::size_t{1} << 31)) {
            ternary::detail::fail<format_error>(where, "tokenizer.ggml.tokens has ", tokens.values.size(), " tokens");
        }
        bpe_tokenizer t;
        t.name_ = name;
        const std::size_t n = tokens.values.size();
        t.tokens_.reserve(n);
        t.types_.reserve(n);
        t.ids_.reserve(n);
        for (std::size_t id = 0; id < n; ++id) {
            const std::string& text = std::get<std::string>(tokens.values[id].value);
            const std::int32_t type = types != nullptr ? std::get<std::int32_t>(types->values[id].value) : type_normal;
            if (is_text_type(type)) {  // control and user-defined tokens: their text as it is
                t.add_text_token(text, type);
                continue;
            }
            auto bytes = gpt2_decode_bytes(text);
            if (!bytes || bytes->empty()) {
                ternary::detail::fail<format_error>(where, "token ", id, " '", text, "' is not a string in GPT-2's byte alphabet");
            }
            t.add_byte_token(std::move(*bytes), type, [&](std::uint32_t other) {
                ternary::detail::fail<format_error>(where, "token ", id, " '", text, "' repeats token ", other);
            });
        }
        t.merges_.reserve(merges.values.size());
        for (std::size_t rank = 0; rank < merges.values.size(); ++rank) {
            const std::string& merge = std::get<std::string>(merges.values[rank].value);
            const std::size_t space = merge.find(' ', 1);
            if (space == std::string::npos) ternary::detail::fail<format_error>(where, "merge ", rank, " '", merge, "' is not 'left right'");
            // Of a pair given twice, the first counts (llama.cpp's rule).
            if (!t.add_merge(std::string_view(merge).substr(0, space), std::string_view(merge).substr(space + 1),
                             static_cast<std::uint32_t>(rank), false)) {
                ternary::detail::fail<format_error>(where, "merge ", rank, " '", merge, "' refers to an unknown token");
            }
        }
        t.bos_ = detail::optional_token_id(file, "tokenizer.ggml.bos_token_id", n, where);
        t.eos_ = detail::optional_token_id(file, "tokenizer.ggml.eos_token_id", n, where);
        if (const std::string* pre = detail::optional_metadata<std::string>(file, "tokenizer.ggml.pre", where)) {
            if (*pre == "llama-bpe" || *pre == "llama3") {
                t.pre_ = pretokenizer::llama3;
            } else if (*pre == "gpt-2" || *pre == "default") {
                t.pre_ = pretokenizer::gpt2;
            } else {
                ternary::detail::fail<format_error>(where, "tokenizer.ggml.pre '", *pre,
                                                    "' is not a known pre-tokenizer (llama-bpe, llama3, gpt-2, default)");
            }
        } else {
            t.pre_ = n == 128256 ? pretokenizer::llama3 : pretokenizer::gpt2;
        }
        const bool* add_bos = detail::optional_metadata<bool>(file, "tokenizer.ggml.add_bos_token", where);
        t.add_bos_ = add_bos != nullptr ? *add_bos : t.pre_ == pretokenizer::llama3;
        if (const std::string* jinja = detail::optional_metadata<std::string>(file, "tokenizer.chat_template", where)) t.chat_template_ = *jinja;
        t.use_merges_ = true;
        t.whole_piece_first_ = t.pre_ == pretokenizer::llama3;
        t.finish();
        return t;
    }

    /// Reads a Hugging Face tokenizer.json and, when the same directory has one,
    /// tokenizer_config.json (see from_hf_json).
    static bpe_tokenizer load_hf_json(const std::string& path) {
        const auto text = io::read_file(path);
        const std::string config_path = sibling_config(path);
        std::vector<std::uint8_t> config;
        if (std::filesystem::is_regular_file(config_path)) config = io::read_file(config_path);
        return parse_hf_json(as_text(text), path, as_text(config), config_path);
    }

    /// A Hugging Face tokenizer.json (the `tokenizers` library's format) for byte-level BPE;
    /// `name` names it in errors, and tokenizer_config_json is the text of the
    /// tokenizer_config.json beside it (empty: none). What is read:
    ///  - model: type "BPE"; vocab (token -> id, tokens in GPT-2's alphabet); merges ("left
    ///    right" strings or ["left", "right"] pairs, in rank order); ignore_merges (a piece that
    ///    is a token as a whole is that token). byte_fallback, dropout, a subword prefix or
    ///    suffix are refused.
    ///  - added_tokens: {id, content, special, ...}; all of them are special tokens here (matched
    ///    only with allow_special, see the top of this file); lstrip, rstrip or single_word are
    ///    refused. Their ids and the vocab's must be 0..n-1, each once (an added token may also
    ///    be in the vocab under the same id, as GPT-2's <|endoftext|> is).
    ///  - pre_tokenizer: ByteLevel (GPT-2's regex), or a Split whose regex is the Llama 3 or the
    ///    GPT-2 pattern, character for character, followed by ByteLevel with use_regex false;
    ///    anything else is refused, naming it. A normalizer is refused.
    ///  - post_processor: in a TemplateProcessing's "single", a special token before $A is BOS
    ///    (and makes adds_bos() true), one after it EOS.
    ///  - tokenizer_config.json, which wins over the template: bos_token and eos_token (a string
    ///    or {"content": ...}), add_bos_token, chat_template (a string, or the one named
    ///    "default" of a list).
    static bpe_tokenizer from_hf_json(std::string_view json_text, const std::string& name,
                                      std::string_view tokenizer_config_json = {}) {
        return parse_hf_json(json_text, name, tokenizer_config_json, sibling_config(name));
    }

    std::size_t vocab_size() const noexcept { return tokens_.size(); }
    pretokenizer pre() const noexcept { return pre_; }
    std::optional<std::size_t> bos() const noexcept { return bos_; }
    std::optional<std::size_t> eos() const noexcept { return eos_; }
    /// Whether plain text starts with BOS (and there is one): true for a tiktoken rank file;
    /// GGUF tokenizer.ggml.add_bos_token (see from_gguf); tokenizer_config.json's add_bos_token,
    /// else whether the post_processor puts a BOS first.
    bool adds_bos() const noexcept { return add_bos_ && bos_.has_value(); }
    /// The chat template (Jinja source) stored with the tokenizer: GGUF tokenizer.chat_template
    /// or tokenizer_config.json's chat_template.
    std::optional<std::string> chat_template() const { return chat_template_; }

    /// The bytes of a token (a special token's text); value_error if id is out of range.
    const std::string& token_bytes(std::size_t id) const {
        check_id(id, "bpe_tokenizer::token_bytes");
        return tokens_[id];
    }

    /// Whether a token is special (matched in text only with allow_special).
    bool is_special(std::size_t id) const {
        check_id(id, "bpe_tokenizer::is_special");
        return is_text_type(types_[id]);
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

    /// The merges as (left id, right id), highest priority first: those of the GGUF file or
    /// tokenizer.json (a pair given twice once), or for a tiktoken rank file derived from the
    /// ranks as the top of this file says (280,147 for Llama 3, as in the official GGUF).
    std::vector<std::pair<std::size_t, std::size_t>> merges() const {
        return use_merges_ ? stored_merges() : derived_merges();
    }

    /// The tokenizer as GGUF metadata, as llama.cpp's converter writes it: tokenizer.ggml.model
    /// "gpt2", .pre ("llama-bpe" or "gpt-2"), .tokens (ordinary tokens in GPT-2's alphabet,
    /// special ones as their text), .token_type (1 normal, 3 control, 4 user-defined, or the
    /// GGUF file's own), .merges (merges() as "left right"), .bos_token_id and .eos_token_id
    /// when there are such tokens, .add_bos_token, and tokenizer.chat_template when there is
    /// one. from_gguf of it encodes as this tokenizer does, except that GGUF has no
    /// ignore_merges of its own: it follows the pre-tokenizer (on with Llama 3's).
    metadata gguf_metadata() const {
        std::vector<std::string> texts(tokens_.size());
        for (std::size_t id = 0; id < tokens_.size(); ++id) {
            texts[id] = is_text_type(types_[id]) ? tokens_[id] : gpt2_encode_bytes(tokens_[id]);
        }
        io::gguf_array merge_texts{io::gguf_type::string, {}};
        const auto pairs = merges();
        merge_texts.values.reserve(pairs.size());
        for (const auto& [left, right] : pairs) merge_texts.values.push_back({texts[left] + " " + texts[right]});
        io::gguf_array token_texts{io::gguf_type::string, {}}, token_types{io::gguf_type::i32, {}};
        token_texts.values.reserve(texts.size());
        token_types.values.reserve(texts.size());
        for (std::size_t id = 0; id < texts.size(); ++id) {
            token_texts.values.push_back({std::move(texts[id])});
            token_types.values.push_back({types_[id]});
        }
        metadata out;
        out.emplace_back("tokenizer.ggml.model", io::gguf_value{std::string("gpt2")});
        out.emplace_back("tokenizer.ggml.pre", io::gguf_value{std::string(pre_ == pretokenizer::llama3 ? "llama-bpe" : "gpt-2")});
        out.emplace_back("tokenizer.ggml.tokens", io::gguf_value{std::move(token_texts)});
        out.emplace_back("tokenizer.ggml.token_type", io::gguf_value{std::move(token_types)});
        out.emplace_back("tokenizer.ggml.merges", io::gguf_value{std::move(merge_texts)});
        if (bos_) out.emplace_back("tokenizer.ggml.bos_token_id", io::gguf_value{static_cast<std::uint32_t>(*bos_)});
        if (eos_) out.emplace_back("tokenizer.ggml.eos_token_id", io::gguf_value{static_cast<std::uint32_t>(*eos_)});
        out.emplace_back("tokenizer.ggml.add_bos_token", io::gguf_value{add_bos_});
        if (chat_template_) out.emplace_back("tokenizer.chat_template", io::gguf_value{*chat_template_});
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

    // GGUF token types (llama.cpp's llama_token_type); types_ keeps a GGUF file's own values.
    static constexpr std::int32_t type_normal = 1;
    static constexpr std::int32_t type_control = 3;
    static constexpr std::int32_t type_user_defined = 4;

    /// Control and user-defined tokens: special, stored as their text rather than as bytes in
    /// GPT-2's alphabet.
    static constexpr bool is_text_type(std::int32_t type) noexcept { return type == type_control || type == type_user_defined; }

    static constexpr std::uint64_t pair_key(std::uint32_t left, std::uint32_t right) noexcept {
        return (std::uint64_t{left} << 32) | right;
    }

    static std::string_view as_text(const std::vector<std::uint8_t>& bytes) noexcept {
        return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    }

    /// tokenizer_config.json beside a tokenizer.json.
    static std::string sibling_config(const std::string& path) {
        return (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
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

    // ---- Hugging Face tokenizer.json ----

    static bpe_tokenizer parse_hf_json(std::string_view json_text, const std::string& name, std::string_view config_text,
                                       const std::string& config_name) {
        const char* where = name.c_str();
        const io::json_value root = io::json_value::parse(json_text, name);
        if (!root.is_object()) ternary::detail::fail<format_error>(where, "not a tokenizer.json: the document is not an object");
        const io::json_value& model = root.at("model");
        check_hf_model(model, where);
        check_hf_normalizer(root, where);
        bpe_tokenizer t;
        t.name_ = name;
        t.pre_ = hf_pretokenizer(root, where);
        t.read_hf_vocab(model.at("vocab"), root.find("added_tokens"), where);
        t.read_hf_merges(model.at("merges"), where);
        t.use_merges_ = true;
        t.whole_piece_first_ = flag(model, "ignore_merges", false);
        t.finish();  // find() below needs the special tokens indexed
        t.read_hf_post_processor(root.find("post_processor"), where);
        if (!config_text.empty()) t.read_hf_config(io::json_value::parse(config_text, config_name), config_name.c_str());
        return t;
    }

    /// A boolean member, or `otherwise` if it is absent or null.
    static bool flag(const io::json_value& object, std::string_view key, bool otherwise) {
        const io::json_value* v = object.find(key);
        return v == nullptr || v->is_null() ? otherwise : v->as_bool();
    }

    /// The steps of a pre-tokenizer, normalizer or post-processor: a "Sequence" is its list
    /// (under list_key), flattened; anything else is one step.
    static void flatten_steps(const io::json_value& step, std::string_view list_key, std::vector<const io::json_value*>& out) {
        if (step.at("type").as_string() != "Sequence") {
            out.push_back(&step);
            return;
        }
        for (const io::json_value& child : step.at(list_key).as_array()) flatten_steps(child, list_key, out);
    }

    /// Refuses what would make BPE anything but byte-level BPE as encode does it.
    static void check_hf_model(const io::json_value& model, const char* where) {
        if (const io::json_value* type = model.find("type"); type != nullptr && type->as_string() != "BPE") {
            ternary::detail::fail<format_error>(where, "model.type is '", type->as_string(), "', not 'BPE'");
        }
        if (flag(model, "byte_fallback", false)) {
            ternary::detail::fail<format_error>(where, "model.byte_fallback is true: that is SentencePiece-style BPE with "
                                                       "<0xXX> byte tokens, not byte-level BPE");
        }
        if (const io::json_value* dropout = model.find("dropout"); dropout != nullptr && !dropout->is_null() && dropout->as_number() > 0) {
            ternary::detail::fail<format_error>(where, "model.dropout is ", dropout->as_number(), ": BPE dropout (random merges) is not supported");
        }
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
            const io::json_value* v = model.find(key);
            if (v != nullptr && !v->is_null() && !v->as_string().empty()) {
                ternary::detail::fail<format_error>(where, "model.", key, " '", v->as_string(), "' is not supported by byte-level BPE");
            }
        }
    }

    /// Byte-level BPE encodes the text's bytes as they are: a normalizer would change them.
    static void check_hf_normalizer(const io::json_value& root, const char* where) {
        const io::json_value* normalizer = root.find("normalizer");
        if (normalizer == nullptr || normalizer->is_null()) return;
        std::vector<const io::json_value*> steps;
        flatten_steps(*normalizer, "normalizers", steps);
        if (!steps.empty()) {
            ternary::detail::fail<format_error>(where, "normalizer '", steps.front()->at("type").as_string(), "' is not supported");
        }
    }

    /// The pre-tokenizer: one regex split (a Split, or ByteLevel's own GPT-2 regex) and then
    /// ByteLevel's mapping of bytes to GPT-2's alphabet.
    static pretokenizer hf_pretokenizer(const io::json_value& root, const char* where) {
        const io::json_value* pre = root.find("pre_tokenizer");
        if (pre == nullptr || pre->is_null()) {
            ternary::detail::fail<format_error>(where, "no pre_tokenizer: byte-level BPE needs ByteLevel");
        }
        std::vector<const io::json_value*> steps;
        flatten_steps(*pre, "pretokenizers", steps);
        std::optional<pretokenizer> split;
        bool byte_level = false;
        for (const io::json_value* step : steps) {
            const std::string& type = step->at("type").as_string();
            if (type == "Split" && !byte_level && !split) {
                split = hf_split_regex(*step, where);
            } else if (type == "ByteLevel" && !byte_level) {
                byte_level = true;
                if (flag(*step, "add_prefix_space", false)) {
                    ternary::detail::fail<format_error>(where, "pre_tokenizer: ByteLevel's add_prefix_space true is not supported");
                }
                if (flag(*step, "use_regex", true)) {  // HF's default: GPT-2's regex
                    if (split) ternary::detail::fail<format_error>(where, "pre_tokenizer: a Split and ByteLevel's own regex (use_regex) both split the text");
                    split = pretokenizer::gpt2;
                }
            } else {
                ternary::detail::fail<format_error>(where, "pre_tokenizer: a '", type, "' step here is not supported "
                                                           "(byte-level BPE: at most one Split, then ByteLevel)");
            }
        }
        if (!byte_level) ternary::detail::fail<format_error>(where, "pre_tokenizer has no ByteLevel step: this is not byte-level BPE");
        if (!split) ternary::detail::fail<format_error>(where, "pre_tokenizer splits the text by no regex (ByteLevel use_regex false, no Split)");
        return *split;
    }

    /// Which of the two regexes a Split step is (isolating each match, as encode does).
    static pretokenizer hf_split_regex(const io::json_value& step, const char* where) {
        const io::json_value* regex = step.at("pattern").find("Regex");
        if (regex == nullptr) ternary::detail::fail<format_error>(where, "pre_tokenizer: a Split on a plain string is not supported");
        const io::json_value* behavior = step.find("behavior");
        if ((behavior != nullptr && behavior->as_string() != "Isolated") || flag(step, "invert", false)) {
            ternary::detail::fail<format_error>(where, "pre_tokenizer: a Split must be 'Isolated' and not inverted");
        }
        const std::string& pattern = regex->as_string();
        for (const pretokenizer kind : {pretokenizer::llama3, pretokenizer::gpt2}) {
            if (pattern == pretokenizer_regex(kind)) return kind;
        }
        ternary::detail::fail<format_error>(where, "pre_tokenizer: the Split pattern '", pattern,
                                            "' is neither the Llama 3 nor the GPT-2 regex (pretokenize.hpp)");
    }

    /// The tokens of model.vocab and added_tokens, by id.
    void read_hf_vocab(const io::json_value& vocab, const io::json_value* added_tokens, const char* where) {
        const std::span<const io::json_value> entries = vocab.members();
        std::span<const io::json_value> added;
        if (added_tokens != nullptr && !added_tokens->is_null()) added = added_tokens->as_array();
        // n tokens have the ids 0..n-1, and n is at most the number of entries: an id at or past
        // that leaves a gap, and the tables below never outgrow the file.
        const std::size_t limit = entries.size() + added.size();
        const auto id_of = [&](const io::json_value& v, const auto&... what) -> std::size_t {
            if (!v.is_integer() || v.as_int() < 0) ternary::detail::fail<format_error>(where, what..., " is not a token id");
            const auto id = static_cast<std::uint64_t>(v.as_int());
            if (id >= limit) {
                ternary::detail::fail<format_error>(where, what..., " is ", id, ", which leaves a gap: model.vocab and added_tokens "
                                                    "have ", limit, " entries, whose ids must be 0..n-1, each once");
            }
            return static_cast<std::size_t>(id);
        };
        std::vector<const std::string*> vocab_text(limit, nullptr);  // by id
        std::vector<const io::json_value*> added_token(limit, nullptr);
        std::size_t n = 0;
        for (const io::json_value& entry : entries) {
            const std::size_t id = id_of(entry, "model.vocab['", entry.key(), "']");
            if (vocab_text[id] != nullptr) {
                ternary::detail::fail<format_error>(where, "model.vocab gives the id ", id, " to both '", *vocab_text[id], "' and '",
                                                    entry.key(), "'");
            }
            vocab_text[id] = &entry.key();
            n = std::max(n, id + 1);
        }
        for (std::size_t i = 0; i < added.size(); ++i) {
            const std::size_t id = id_of(added[i].at("id"), "added_tokens[", i, "].id");
            const std::string& content = added[i].at("content").as_string();
            check_hf_added_token(added[i], i, where);
            if (added_token[id] != nullptr) {
                ternary::detail::fail<format_error>(where, "added_tokens gives the id ", id, " to two tokens");
            }
            // An added token may be in the vocab too (GPT-2's <|endoftext|>), as itself.
            if (vocab_text[id] != nullptr && *vocab_text[id] != content && *vocab_text[id] != gpt2_encode_bytes(content)) {
                ternary::detail::fail<format_error>(where, "added_tokens[", i, "] '", content, "' has the id ", id, " of model.vocab's '",
                                                    *vocab_text[id], "'");
            }
            added_token[id] = &added[i];
            n = std::max(n, id + 1);
        }
        tokens_.reserve(n);
        types_.reserve(n);
        ids_.reserve(n);
        for (std::size_t id = 0; id < n; ++id) {
            if (added_token[id] != nullptr) {
                add_text_token(added_token[id]->at("content").as_string(),
                               flag(*added_token[id], "special", false) ? type_control : type_user_defined);
            } else if (vocab_text[id] != nullptr) {
                auto bytes = gpt2_decode_bytes(*vocab_text[id]);
                if (!bytes || bytes->empty()) {
                    ternary::detail::fail<format_error>(where, "model.vocab['", *vocab_text[id], "'] is not a string in GPT-2's byte alphabet");
                }
                add_byte_token(std::move(*bytes), type_normal, [&](std::uint32_t other) {
                    ternary::detail::fail<format_error>(where, "model.vocab['", *vocab_text[id], "'] (id ", id, ") is the same bytes as id ", other);
                });
            } else {
                ternary::detail::fail<format_error>(where, "no token has the id ", id, ": the ids of model.vocab and added_tokens must be 0..",
                                                    n - 1, ", each once");
            }
        }
    }

    /// An added token must be matched as encode matches special tokens: its exact text.
    static void check_hf_added_token(const io::json_value& token, std::size_t i, const char* where) {
        if (token.at("content").as_string().empty()) ternary::detail::fail<format_error>(where, "added_tokens[", i, "] is empty");
        for (const char* key : {"lstrip", "rstrip", "single_word"}) {
            if (flag(token, key, false)) {
                ternary::detail::fail<format_error>(where, "added_tokens[", i, "] '", token.at("content").as_string(), "': ", key,
                                                    " true is not supported");
            }
        }
    }

    /// model.merges in rank order: "left right" lines ("#version" lines skipped, as Hugging
    /// Face does with merges.txt) or ["left", "right"] pairs.
    void read_hf_merges(const io::json_value& merges, const char* where) {
        const std::span<const io::json_value> list = merges.as_array();
        merges_.reserve(list.size());
        std::uint32_t rank = 0;
        for (std::size_t i = 0; i < list.size(); ++i) {
            std::string_view left, right;
            if (list[i].is_string()) {
                const std::string_view line = list[i].as_string();
                if (line.starts_with("#version")) continue;
                const std::size_t space = line.find(' ');
                if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
                    ternary::detail::fail<format_error>(where, "model.merges[", i, "] '", line, "' is not 'left right'");
                }
                left = line.substr(0, space);
                right = line.substr(space + 1);
            } else if (list[i].is_array() && list[i].size() == 2 && list[i].at(0).is_string() && list[i].at(1).is_string()) {
                left = list[i].at(0).as_string();
                right = list[i].at(1).as_string();
            } else {
                ternary::detail::fail<format_error>(where, "model.merges[", i, "] is neither 'left right' nor a pair of strings");
            }
            // Of a pair given twice, the last counts (Hugging Face builds a map from the list).
            if (!add_merge(left, right, rank++, true)) {
                ternary::detail::fail<format_error>(where, "model.merges[", i, "] '", left, " ", right, "' refers to an unknown token");
            }
        }
    }

    /// BOS and EOS from the post_processor's template for one sequence: the special tokens
    /// before and after $A.
    void read_hf_post_processor(const io::json_value* post_processor, const char* where) {
        if (post_processor == nullptr || post_processor->is_null()) return;
        std::vector<const io::json_value*> steps;
        flatten_steps(*post_processor, "processors", steps);
        for (const io::json_value* step : steps) {
            if (step->at("type").as_string() != "TemplateProcessing") continue;  // ByteLevel only trims offsets
            bool after_sequence = false;
            for (const io::json_value& piece : step->at("single").as_array()) {
                if (piece.find("Sequence") != nullptr) {
                    after_sequence = true;
                    continue;
                }
                const io::json_value* special = piece.find("SpecialToken");
                if (special == nullptr) {
                    ternary::detail::fail<format_error>(where, "post_processor: a piece of 'single' is neither SpecialToken nor Sequence");
                }
                const std::size_t id = template_token(*step, special->at("id").as_string(), where);
                std::optional<std::size_t>& slot = after_sequence ? eos_ : bos_;
                if (!slot) slot = id;
            }
        }
        add_bos_ = bos_.has_value();
    }

    /// The id of a template's special token: its special_tokens entry, else the token with
    /// that text.
    std::size_t template_token(const io::json_value& step, const std::string& name, const char* where) const {
        if (const io::json_value* table = step.find("special_tokens"); table != nullptr && table->is_object()) {
            if (const io::json_value* entry = table->find(name); entry != nullptr && entry->at("ids").size() == 1) {
                const auto id = entry->at("ids").at(std::size_t{0}).as_int();
                if (id < 0 || static_cast<std::uint64_t>(id) >= tokens_.size()) {
                    ternary::detail::fail<format_error>(where, "post_processor: special token '", name, "' has the id ", id,
                                                        ", not below the vocabulary size ", tokens_.size());
                }
                return static_cast<std::size_t>(id);
            }
        }
        if (const auto id = find(name)) return *id;
        ternary::detail::fail<format_error>(where, "post_processor: the template's special token '", name, "' is not in the vocabulary");
    }

    /// tokenizer_config.json: bos_token, eos_token, add_bos_token, chat_template.
    void read_hf_config(const io::json_value& config, const char* where) {
        if (!config.is_object()) ternary::detail::fail<format_error>(where, "not a tokenizer_config.json: the document is not an object");
        if (const auto id = config_token(config, "bos_token", where)) bos_ = id;
        if (const auto id = config_token(config, "eos_token", where)) eos_ = id;
        if (const io::json_value* add = config.find("add_bos_token"); add != nullptr && !add->is_null()) add_bos_ = add->as_bool();
        const io::json_value* jinja = config.find("chat_template");
        if (jinja == nullptr || jinja->is_null()) return;
        if (jinja->is_string()) {
            chat_template_ = jinja->as_string();
            return;
        }
        for (const io::json_value& named : jinja->as_array()) {  // [{"name": ..., "template": ...}, ...]
            if (named.at("name").as_string() == "default") {
                chat_template_ = named.at("template").as_string();
                return;
            }
        }
        ternary::detail::fail<format_error>(where, "'chat_template' is a list without a template named 'default'");
    }

    /// The token a config key names (a string, or an AddedToken object's content), or nullopt
    /// if the key is absent or null.
    std::optional<std::size_t> config_token(const io::json_value& config, std::string_view key, const char* where) const {
        const io::json_value* v = config.find(key);
        if (v == nullptr || v->is_null()) return std::nullopt;
        const std::string& text = v->is_object() ? v->at("content").as_string() : v->as_string();
        const auto id = find(text);
        if (!id) ternary::detail::fail<format_error>(where, "'", key, "' is '", text, "', which is not a token of the vocabulary");
        return id;
    }

    // ---- building the vocabulary ----

    /// A special token (control or user-defined): its text as it is.
    void add_text_token(const std::string& text, std::int32_t type) {
        tokens_.push_back(text);
        types_.push_back(type);
    }

    /// An ordinary token; on_duplicate(id) if another token has the same bytes (it must throw).
    template <class OnDuplicate>
    void add_byte_token(std::string bytes, std::int32_t type, OnDuplicate&& on_duplicate) {
        const auto [it, inserted] = ids_.emplace(bytes, static_cast<std::uint32_t>(tokens_.size()));
        if (!inserted) on_duplicate(it->second);
        tokens_.push_back(std::move(bytes));
        types_.push_back(type);
    }

    /// Records the merge of the tokens written left and right in GPT-2's alphabet; false if
    /// either of them or their concatenation is not an ordinary token. A pair already recorded
    /// keeps its rank unless later_wins.
    bool add_merge(std::string_view left, std::string_view right, std::uint32_t rank, bool later_wins) {
        const auto left_bytes = gpt2_decode_bytes(left), right_bytes = gpt2_decode_bytes(right);
        if (!left_bytes || !right_bytes) return false;
        const auto l = ids_.find(*left_bytes), r = ids_.find(*right_bytes), merged = ids_.find(*left_bytes + *right_bytes);
        if (l == ids_.end() || r == ids_.end() || merged == ids_.end()) return false;
        const merge_entry entry{rank, merged->second};
        const auto [it, inserted] = merges_.emplace(pair_key(l->second, r->second), entry);
        if (!inserted && later_wins) it->second = entry;
        return true;
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
            if (is_text_type(types_[id]) && !tokens_[id].empty()) {
                specials_.push_back(static_cast<std::uint32_t>(id));
                special_first_[static_cast<unsigned char>(tokens_[id][0])] = true;
            }
        }
        std::stable_sort(specials_.begin(), specials_.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return tokens_[a].size() > tokens_[b].size(); });
    }

    // ---- merges out ----

    std::vector<std::pair<std::size_t, std::size_t>> stored_merges() const {
        std::vector<std::pair<std::uint32_t, std::uint64_t>> by_rank;  // (rank, pair key)
        by_rank.reserve(merges_.size());
        for (const auto& [key, entry] : merges_) by_rank.emplace_back(entry.rank, key);
        std::sort(by_rank.begin(), by_rank.end());
        std::vector<std::pair<std::size_t, std::size_t>> out;
        out.reserve(by_rank.size());
        for (const auto& [rank, key] : by_rank) out.emplace_back(static_cast<std::size_t>(key >> 32), static_cast<std::size_t>(key & 0xFFFFFFFFu));
        return out;
    }

    /// Every cut of each token into two tokens, by the token's rank (= id), then by the ranks of
    /// the two parts: BPE ranking each pair by the rank of its concatenation, as tiktoken does.
    std::vector<std::pair<std::size_t, std::size_t>> derived_merges() const {
        std::vector<std::pair<std::size_t, std::size_t>> out, cuts;
        for (std::size_t id = 0; id < tokens_.size(); ++id) {
            if (is_text_type(types_[id])) continue;
            const std::string_view token = tokens_[id];
            cuts.clear();
            for (std::size_t cut = 1; cut < token.size(); ++cut) {
                const auto left = ids_.find(token.substr(0, cut));
                if (left == ids_.end()) continue;
                const auto right = ids_.find(token.substr(cut));
                if (right != ids_.end()) cuts.emplace_back(left->second, right->second);
            }
            std::sort(cuts.begin(), cuts.end());
            out.insert(out.end(), cuts.begin(), cuts.end());
        }
        return out;
    }

    // ---- encoding ----

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
    std::vector<std::string> tokens_;   // bytes of each id; text of special tokens
    std::vector<std::int32_t> types_;   // GGUF token type of each id
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> ids_;  // ordinary tokens by bytes
    std::unordered_map<std::uint64_t, merge_entry> merges_;                           // GGUF and tokenizer.json
    std::array<std::uint32_t, 256> byte_ids_{};
    std::vector<std::uint32_t> specials_;  // ids of special tokens with text, longest first
    std::array<bool, 256> special_first_{};  // first bytes of special tokens
    std::optional<std::size_t> bos_, eos_;
    bool add_bos_ = false;
    std::optional<std::string> chat_template_;
    pretokenizer pre_ = pretokenizer::gpt2;
    bool use_merges_ = false;
    bool whole_piece_first_ = false;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
