#pragma once
// The pre-tokenizers of byte-level BPE: text is cut into pieces by a regex before BPE runs on
// each piece. Both regexes are matched by hand, exactly as a backtracking engine (tiktoken's
// fancy-regex, Oniguruma) matches them: at each position the first alternative that matches
// wins (leftmost-first), with the backtracking the greedy quantifiers and the lookahead imply.
//
// Llama 3 (tiktoken pat_str; also BitNet b1.58 2B4T):
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// GPT-2:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Classes are those of unicode.hpp. Bytes that are not well-formed UTF-8 are characters of
// their own of the class "other" (like punctuation), so any byte string splits, and the pieces
// always concatenate back to the input.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "unicode.hpp"

namespace ternary::inline TERNARY_ABI::tokenizer {

enum class pretokenizer : std::uint8_t {
    llama3,  // Llama 3's tiktoken regex
    gpt2,    // GPT-2's regex
};

/// The regex each pre-tokenizer implements, as the files that name it write it (tiktoken's
/// pat_str, Hugging Face tokenizer.json's Split pattern, GPT-2's encoder.py): a tokenizer.json
/// is accepted only when its pattern is one of these, character for character.
constexpr std::string_view pretokenizer_regex(pretokenizer kind) noexcept {
    if (kind == pretokenizer::llama3) {
        return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    }
    return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

namespace pretokenize_detail {

/// One decoded character of the text being split.
struct character {
    std::size_t begin;  // byte offset
    char32_t cp;
    char_class cls;
};

inline std::vector<character> decode_all(std::string_view text) {
    std::vector<character> chars;
    chars.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const utf8_char c = decode_utf8(text, pos);
        // An invalid byte decodes to U+FFFD, which is "other": the same class as a real U+FFFD.
        chars.push_back({pos, c.code_point, classify(c.code_point)});
        pos += c.length;
    }
    return chars;
}

/// Case-insensitive match of one contraction letter, as Unicode simple case folding does it:
/// only 's' has a third form among these letters (U+017F LATIN SMALL LETTER LONG S).
constexpr bool folds_to(char32_t cp, char lower) noexcept {
    if (cp == static_cast<char32_t>(lower) || cp == static_cast<char32_t>(lower - 'a' + 'A')) return true;
    return lower == 's' && cp == 0x017F;
}

/// The length in characters of the contraction 's|'t|'re|'ve|'m|'ll|'d at chars[i], or 0.
inline std::size_t contraction(const std::vector<character>& c, std::size_t i, bool ignore_case) {
    const std::size_t n = c.size();
    if (c[i].cp != '\'' || i + 1 >= n) return 0;
    const auto is = [&](std::size_t k, char lower) {
        return ignore_case ? folds_to(c[k].cp, lower) : c[k].cp == static_cast<char32_t>(lower);
    };
    if (is(i + 1, 's') || is(i + 1, 't') || is(i + 1, 'm') || is(i + 1, 'd')) return 2;
    if (i + 2 >= n) return 0;
    if ((is(i + 1, 'r') && is(i + 2, 'e')) || (is(i + 1, 'v') && is(i + 2, 'e')) || (is(i + 1, 'l') && is(i + 2, 'l'))) {
        return 3;
    }
    return 0;
}

/// The end of the run of characters of class cls that starts at chars[i].
inline std::size_t run(const std::vector<character>& c, std::size_t i, char_class cls) {
    while (i < c.size() && c[i].cls == cls) ++i;
    return i;
}

inline bool is_newline(char32_t cp) noexcept { return cp == '\r' || cp == '\n'; }

/// The end of the match of \s+(?!\S)|\s+ at chars[i] (a whitespace character): the whole
/// whitespace run if it ends the text or is one character long, else the run but its last
/// character (which then stays to lead the next piece).
inline std::size_t whitespace_match(const std::vector<character>& c, std::size_t i) {
    const std::size_t end = run(c, i, char_class::whitespace);
    if (end == c.size() || end - i == 1) return end;
    return end - 1;
}

/// The end (in characters) of the Llama 3 regex's match at chars[i].
inline std::size_t match_llama3(const std::vector<character>& c, std::size_t i) {
    const std::size_t n = c.size();
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (const std::size_t k = contraction(c, i, true)) return i + k;
    // [^\r\n\p{L}\p{N}]?\p{L}+: the optional character can never be a letter itself.
    if (c[i].cls == char_class::letter) return run(c, i, char_class::letter);
    if (c[i].cls != char_class::number && !is_newline(c[i].cp) && i + 1 < n && c[i + 1].cls == char_class::letter) {
        return run(c, i + 1, char_class::letter);
    }
    // \p{N}{1,3}
    if (c[i].cls == char_class::number) {
        std::size_t end = i + 1;
        while (end < n && end < i + 3 && c[end].cls == char_class::number) ++end;
        return end;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const std::size_t start = c[i].cp == ' ' && i + 1 < n && c[i + 1].cls == char_class::other ? i + 1 : i;
    if (c[start].cls == char_class::other) {
        std::size_t end = run(c, start, char_class::other);
        while (end < n && is_newline(c[end].cp)) ++end;
        return end;
    }
    // What is left is whitespace. \s*[\r\n]+: \s* backtracks to the last \r or \n of the run.
    const std::size_t end = run(c, i, char_class::whitespace);
    for (std::size_t k = end; k > i; --k) {
        if (is_newline(c[k - 1].cp)) return k;
    }
    // \s+(?!\S)|\s+
    return whitespace_match(c, i);
}

/// The end (in characters) of the GPT-2 regex's match at chars[i].
inline std::size_t match_gpt2(const std::vector<character>& c, std::size_t i) {
    const std::size_t n = c.size();
    if (const std::size_t k = contraction(c, i, false)) return i + k;
    // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
    const std::size_t start = c[i].cp == ' ' && i + 1 < n && c[i + 1].cls != char_class::whitespace ? i + 1 : i;
    if (c[start].cls != char_class::whitespace) return run(c, start, c[start].cls);
    return whitespace_match(c, i);
}

}  // namespace pretokenize_detail

/// Calls on_piece(std::string_view) for each piece of text, in order; the pieces concatenate to
/// text. An empty text has no pieces.
template <class OnPiece>
void split_pieces(pretokenizer kind, std::string_view text, OnPiece&& on_piece) {
    const auto chars = pretokenize_detail::decode_all(text);
    const auto offset = [&](std::size_t i) { return i < chars.size() ? chars[i].begin : text.size(); };
    for (std::size_t i = 0; i < chars.size();) {
        const std::size_t end =
            kind == pretokenizer::llama3 ? pretokenize_detail::match_llama3(chars, i) : pretokenize_detail::match_gpt2(chars, i);
        on_piece(text.substr(offset(i), offset(end) - offset(i)));
        i = end;
    }
}

/// The pieces of text as views into it.
inline std::vector<std::string_view> split_pieces(pretokenizer kind, std::string_view text) {
    std::vector<std::string_view> pieces;
    split_pieces(kind, text, [&](std::string_view piece) { pieces.push_back(piece); });
    return pieces;
}

}  // namespace ternary::inline TERNARY_ABI::tokenizer
