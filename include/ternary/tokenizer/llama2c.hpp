#pragma once
// llama2.c's tokenizer (tokenizer.bin, formats.md 5.2): SentencePiece-style pieces with scores,
// encoded by repeatedly merging the adjacent pair with the best score.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "../io/file.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

class llama2c_tokenizer {
public:
    static constexpr std::size_t bos_id = 1;  // <s>
    static constexpr std::size_t eos_id = 2;  // </s>

    /// Reads tokenizer.bin; vocab_size comes from the model (the file does not store it).
    static llama2c_tokenizer load(const std::string& path, std::size_t vocab_size) {
        return load(io::read_file(path), vocab_size, path);
    }

    /// The same from bytes in memory; `path` names them in error messages.
    static llama2c_tokenizer load(std::span<const std::uint8_t> bytes, std::size_t vocab_size, const std::string& path) {
        io::byte_reader in(bytes.data(), bytes.size(), path);
        llama2c_tokenizer t;
        const std::int32_t max_length = in.read<std::int32_t>("max_token_length");
        if (max_length <= 0 || vocab_size < 3) {
            ternary::detail::fail<format_error>(path.c_str(), "max_token_length ", max_length, " or vocab size ", vocab_size,
                                       " is not a tokenizer");
        }
        // Each piece takes at least 8 bytes: reserve no more than the file can hold.
        t.scores_.reserve(std::min(vocab_size, in.remaining() / 8));
        t.pieces_.reserve(std::min(vocab_size, in.remaining() / 8));
        for (std::size_t id = 0; id < vocab_size; ++id) {
            t.scores_.push_back(in.read<float>("a score"));
            const std::int32_t length = in.read<std::int32_t>("a piece length");
            if (length < 0 || length > max_length) {
                ternary::detail::fail<format_error>(path.c_str(), "piece ", id, " has length ", length);
            }
            const auto* piece = in.take(static_cast<std::size_t>(length), "a piece");
            t.pieces_.emplace_back(reinterpret_cast<const char*>(piece), static_cast<std::size_t>(length));
        }
        for (std::size_t id = 0; id < vocab_size; ++id) t.ids_.emplace(t.pieces_[id], id);  // first id wins
        t.bytes_.reserve(vocab_size);
        for (const auto& piece : t.pieces_) t.bytes_.push_back(bytes_of_piece(piece));
        return t;
    }

    /// How many pieces a tokenizer.bin holds when its records run exactly to the end of the
    /// bytes, or 0 if they do not (the file does not store its count).
    static std::size_t pieces_in(std::span<const std::uint8_t> bytes) {
        if (bytes.size() < 4) return 0;
        std::int32_t max_length = 0;
        std::memcpy(&max_length, bytes.data(), 4);
        if (max_length <= 0) return 0;
        std::size_t count = 0;
        for (std::size_t pos = 4; pos != bytes.size(); ++count) {
            if (bytes.size() - pos < 8) return 0;
            std::int32_t length = 0;
            std::memcpy(&length, bytes.data() + pos + 4, 4);
            if (length < 0 || length > max_length || bytes.size() - pos - 8 < static_cast<std::size_t>(length)) return 0;
            pos += 8 + static_cast<std::size_t>(length);
        }
        return count;
    }

    std::size_t vocab_size() const noexcept { return pieces_.size(); }
    std::optional<std::size_t> bos() const noexcept { return bos_id; }
    std::optional<std::size_t> eos() const noexcept { return eos_id; }
    const std::string& piece(std::size_t id) const {
        check_id(id, "llama2c_tokenizer::piece");
        return pieces_[id];
    }

    /// The bytes a token stands for: its piece, except that "<0xHH>" is the raw byte HH.
    const std::string& token_bytes(std::size_t id) const {
        check_id(id, "llama2c_tokenizer::token_bytes");
        return bytes_[id];
    }

    /// <unk>, <s> and </s> (ids 0 to 2) are control tokens: the text "<s>" is not matched.
    bool is_special(std::size_t id) const {
        check_id(id, "llama2c_tokenizer::is_special");
        return id <= eos_id;
    }

    /// The id of a piece, spaces as spaces.
    std::optional<std::size_t> find(std::string_view piece_text) const {
        const auto found = ids_.find(std::string(piece_text));
        if (found == ids_.end()) return std::nullopt;
        return found->second;
    }

    /// The text of `token` when it follows `previous` (llama2.c's decode): after BOS a leading
    /// space is dropped; a piece "<0xHH>" stands for the raw byte HH.
    std::string decode(std::size_t previous, std::size_t token) const {
        std::string_view p = token_bytes(token);
        if (previous == bos_id && !p.empty() && p.front() == ' ') p.remove_prefix(1);
        return std::string(p);
    }

    /// The text of ids: each token's bytes, the leading space dropped from the first token and
    /// after BOS (it is the dummy prefix encode adds), so decode(encode(s)) == s.
    std::string decode(std::span<const std::size_t> ids) const {
        std::string out;
        for (std::size_t i = 0; i < ids.size(); ++i) out += decode(i == 0 ? bos_id : ids[i - 1], ids[i]);
        return out;
    }

    /// Token ids of text (llama2.c's encode): BOS if asked, a dummy-prefix space piece for
    /// non-empty text, each UTF-8 character as its piece (or its bytes as "<0xHH>" pieces), then
    /// merges of the best-scoring adjacent pair until none is in the vocabulary; EOS if asked.
    std::vector<std::size_t> encode(std::string_view text, bool add_bos, bool add_eos = false) const {
        std::vector<std::size_t> tokens;
        if (add_bos) tokens.push_back(bos_id);
        if (!text.empty()) tokens.push_back(id_of(" "));
        for (std::size_t i = 0; i < text.size();) {
            std::size_t length = 1;  // one UTF-8 character: a lead byte and its continuation bytes
            while (i + length < text.size() && length < 4 && (static_cast<unsigned char>(text[i + length]) & 0xC0) == 0x80) {
                ++length;
            }
            const auto found = ids_.find(std::string(text.substr(i, length)));
            if (found != ids_.end()) {
                tokens.push_back(found->second);
            } else {
                for (std::size_t b = 0; b < length; ++b) tokens.push_back(byte_piece(static_cast<unsigned char>(text[i + b])));
            }
            i += length;
        }
        for (;;) {
            float best_score = -std::numeric_limits<float>::infinity();
            std::size_t best_id = 0, best_index = tokens.size();
            for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
                const auto found = ids_.find(pieces_[tokens[i]] + pieces_[tokens[i + 1]]);
                if (found != ids_.end() && scores_[found->second] > best_score) {
                    best_score = scores_[found->second];
                    best_id = found->second;
                    best_index = i;
                }
            }
            if (best_index == tokens.size()) break;
            tokens[best_index] = best_id;
            tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
        }
        if (add_eos) tokens.push_back(eos_id);
        return tokens;
    }

private:
    static std::string bytes_of_piece(const std::string& p) {
        if (p.size() == 6 && p.starts_with("<0x") && p.back() == '>') {
            const auto hex = [](char ch) -> int {
                if (ch >= '0' && ch <= '9') return ch - '0';
                if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
                if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
                return -1;
            };
            const int hi = hex(p[3]), lo = hex(p[4]);
            if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
        }
        return p;
    }

    void check_id(std::size_t id, const char* where) const {
        if (id >= pieces_.size()) {
            ternary::detail::fail<value_error>(where, "token id ", id, " is not below the vocabulary size ", pieces_.size());
        }
    }

    /// The id of the piece "<0xHH>" for a byte. (llama2.c computes byte + 3, which is the same
    /// id in its files but reads past a smaller vocabulary.)
    std::size_t byte_piece(unsigned byte) const {
        static constexpr char digits[] = "0123456789ABCDEF";
        const std::string piece = std::string("<0x") + digits[byte >> 4] + digits[byte & 15] + ">";
        const auto found = ids_.find(piece);
        if (found == ids_.end()) {
            ternary::detail::fail<value_error>("llama2c_tokenizer::encode", "byte 0x", std::hex, byte,
                                      " has no piece and no byte-fallback piece ", piece);
        }
        return found->second;
    }

    std::size_t id_of(const std::string& piece) const {
        const auto found = ids_.find(piece);
        if (found == ids_.end()) ternary::detail::fail<format_error>("llama2c_tokenizer", "no piece '", piece, "'");
        return found->second;
    }

    std::vector<std::string> pieces_;
    std::vector<std::string> bytes_;  // what each piece stands for in output
    std::vector<float> scores_;
    std::unordered_map<std::string, std::size_t> ids_;
};

}  // namespace ternary::inline TERNARY_ABI::tokenizer
