#pragma once
// Strict JSON (RFC 8259) for safetensors headers and Hugging Face config.json: a parser into
// json_value, typed accessors whose errors name the key, and the string quoting writers need.
//
// Strict means: exactly the RFC grammar (no comments, trailing commas, NaN, leading zeros or
// byte order mark), strings of well-formed UTF-8 without raw control characters, \u escapes
// whose surrogates pair up, no duplicate keys, and at most json_value::max_depth nested arrays
// and objects (so hostile nesting cannot exhaust the stack). Every refusal is a format_error
// naming the source, what was expected and the byte offset.
//
// A document is held whole: each value takes sizeof(json_value) (136 bytes on x86-64) plus its
// strings, about 70 times the 2 bytes of a "0," in the text. Size the inputs you accept by that.

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace ternary::inline TERNARY_ABI::io {

/// The length (1 to 4) of the well-formed UTF-8 sequence that starts s, or 0 if s does not
/// start with one: empty, a stray continuation byte, an overlong form, a surrogate (U+D800 to
/// U+DFFF), a code point above U+10FFFF or a truncated sequence (Unicode 15, table 3-7).
inline std::size_t utf8_sequence_length(std::string_view s) noexcept {
    if (s.empty()) return 0;
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned lead = byte(0);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF;  // the range allowed for the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;   // overlong below U+0800
        if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;   // overlong below U+10000
        if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) return 0;
    }
    return length;
}

namespace json_detail {

/// The two-character escapes: a backslash then `letter` stands for `character`. json_quote
/// writes all but "\/" ('/' needs no escape).
struct short_escape {
    char letter, character;
};
inline constexpr short_escape short_escapes[] = {
    {'"', '"'}, {'\\', '\\'}, {'/', '/'}, {'b', '\b'}, {'f', '\f'}, {'n', '\n'}, {'r', '\r'}, {'t', '\t'},
};

inline constexpr char hex_digits[] = "0123456789abcdef";

}  // namespace json_detail

/// s as a JSON string literal, quotes included: '"' and '\' escaped, control characters as
/// \b \f \n \r \t or \u00XX, everything else (UTF-8 included) as is. value_error if s is not
/// well-formed UTF-8 (JSON text must be).
inline std::string json_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const std::size_t length = utf8_sequence_length(s.substr(i));
            if (length == 0) {
                ternary::detail::fail<value_error>("json_quote", "invalid UTF-8 at byte ", i, " of the string");
            }
            out.append(s.substr(i, length));
            i += length;
            continue;
        }
        if (c == '"' || c == '\\' || c < 0x20) {
            const auto* e = std::find_if(std::begin(json_detail::short_escapes), std::end(json_detail::short_escapes),
                                         [&](const auto& x) { return x.character == static_cast<char>(c); });
            out += '\\';
            if (e != std::end(json_detail::short_escapes)) {
                out += e->letter;
            } else {
                out += "u00";
                out += json_detail::hex_digits[c >> 4];
                out += json_detail::hex_digits[c & 15];
            }
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    out += '"';
    return out;
}

enum class json_kind : std::uint8_t { null, boolean, number, string, array, object };

/// A parsed JSON value. Objects keep their members in document order; each member is a
/// json_value whose key() is its key. Every value remembers its source's name and its byte
/// offset there, so the accessors' errors (format_error) say which key was missing or of the
/// wrong kind, in which file, and where.
class json_value {
public:
    /// Arrays and objects nested deeper than this are refused.
    static constexpr int max_depth = 128;

    /// null.
    json_value() = default;

    /// The single JSON value that is text (whitespace around it allowed). `name` names the
    /// source in errors; offsets in errors and offset() count from base_offset (where text
    /// starts in its file).
    static json_value parse(std::string_view text, std::string name, std::size_t base_offset = 0);

    json_kind kind() const noexcept { return kind_; }
    bool is_null() const noexcept { return kind_ == json_kind::null; }
    bool is_bool() const noexcept { return kind_ == json_kind::boolean; }
    bool is_number() const noexcept { return kind_ == json_kind::number; }
    bool is_string() const noexcept { return kind_ == json_kind::string; }
    bool is_array() const noexcept { return kind_ == json_kind::array; }
    bool is_object() const noexcept { return kind_ == json_kind::object; }
    /// A number written as an integer (no fraction, no exponent) that fits std::int64_t.
    /// 1.0 and 1e3 are numbers, not integers.
    bool is_integer() const noexcept { return kind_ == json_kind::number && integral_; }

    /// Its key if it is a member of an object, else empty.
    const std::string& key() const noexcept { return key_; }
    /// Where it starts in its source (plus the base offset given to parse).
    std::size_t offset() const noexcept { return offset_; }
    /// The source's name given to parse ("json" for a default-constructed value).
    const std::string& source() const noexcept {
        static const std::string unnamed = "json";
        return source_ ? *source_ : unnamed;
    }

    bool as_bool() const {
        expect(json_kind::boolean);
        return boolean_;
    }
    /// Any number, as the nearest double (integers beyond 2^53 round).
    double as_number() const {
        expect(json_kind::number);
        return number_;
    }
    /// An integer (see is_integer) that fits Int; format_error otherwise.
    template <std::integral Int = std::int64_t>
    Int as_int() const {
        if (!is_integer()) fail_kind("an integer");
        if (!std::in_range<Int>(integer_)) {
            fail_here(true, "is ", integer_, ", outside [", +std::numeric_limits<Int>::min(), ", ",
                      +std::numeric_limits<Int>::max(), "]");
        }
        return static_cast<Int>(integer_);
    }
    const std::string& as_string() const {
        expect(json_kind::string);
        return string_;
    }
    /// The elements of an array.
    std::span<const json_value> as_array() const {
        expect(json_kind::array);
        return items_;
    }
    /// The members of an object, in document order (each one's key() is its key).
    std::span<const json_value> members() const {
        expect(json_kind::object);
        return items_;
    }
    /// The number of elements of an array or members of an object.
    std::size_t size() const {
        if (kind_ != json_kind::array && kind_ != json_kind::object) fail_kind("an array or an object");
        return items_.size();
    }

    /// The member of this object with that key, or null if there is none (linear search).
    /// format_error if this is not an object.
    const json_value* find(std::string_view key) const {
        for (const json_value& member : members()) {
            if (member.key_ == key) return &member;
        }
        return nullptr;
    }
    /// The member with that key; format_error naming it if there is none.
    const json_value& at(std::string_view key) const {
        const json_value* member = find(key);
        if (member == nullptr) fail_here(true, "has no key '", key, "'");
        return *member;
    }
    /// The element at index; format_error if this is not an array or it is too short.
    const json_value& at(std::size_t index) const {
        const auto elements = as_array();
        if (index >= elements.size()) fail_here(true, "has ", elements.size(), " elements, no element ", index);
        return elements[index];
    }

private:
    class parser;

    /// "a string", "an object", ... or, without the article, "string", "object", ...
    static const char* kind_name(json_kind kind, bool article = true) noexcept {
        static constexpr const char* names[][2] = {
            {"null", "null"},     {"boolean", "a boolean"}, {"number", "a number"},
            {"string", "a string"}, {"array", "an array"},  {"object", "an object"},
        };
        return names[static_cast<std::size_t>(kind)][article ? 1 : 0];
    }

    /// format_error: "<source>: <subject> <parts> (at offset N)". The subject is 'key' for a
    /// member of an object, else "the value" or, with by_kind, "the object", "the array", ...
    template <class... Parts>
    [[noreturn]] void fail_here(bool by_kind, const Parts&... parts) const {
        std::string subject = "'" + key_ + "'";
        if (key_.empty()) subject = by_kind ? std::string("the ") + kind_name(kind_, false) : std::string("the value");
        ternary::detail::fail<format_error>(source().c_str(), subject, " ", parts..., " (at offset ", offset_, ")");
    }
    [[noreturn]] void fail_kind(const char* expected) const {
        fail_here(false, "is ", kind_name(kind_), ", expected ", expected);
    }
    void expect(json_kind kind) const {
        if (kind_ != kind) fail_kind(kind_name(kind));
    }

    json_kind kind_ = json_kind::null;
    bool boolean_ = false;
    bool integral_ = false;  // integer_ holds the value
    double number_ = 0;
    std::int64_t integer_ = 0;
    std::string string_;
    std::vector<json_value> items_;  // elements of an array, members of an object
    std::string key_;
    std::shared_ptr<const std::string> source_;
    std::size_t offset_ = 0;
};

/// Recursive descent over the text, one byte offset at a time.
class json_value::parser {
public:
    parser(std::string_view text, std::string name, std::size_t base_offset)
        : text_(text), base_(base_offset), source_(std::make_shared<const std::string>(std::move(name))) {}

    json_value document() {
        json_value v = value(0);
        skip_whitespace();
        if (pos_ != text_.size()) fail(pos_, "expected the end of the input after the value, found ", found());
        return v;
    }

private:
    template <class... Parts>
    [[noreturn]] void fail(std::size_t at, const Parts&... parts) const {
        ternary::detail::fail<format_error>(source_->c_str(), parts..., " (at offset ", base_ + at, ")");
    }

    /// What stands at the current position, for messages.
    std::string found() const {
        if (pos_ == text_.size()) return "the end of the input";
        const auto c = static_cast<unsigned char>(text_[pos_]);
        if (c >= 0x21 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
        return std::string("byte 0x") + json_detail::hex_digits[c >> 4] + json_detail::hex_digits[c & 15];
    }

    bool at_end() const noexcept { return pos_ == text_.size(); }
    char peek() const noexcept { return text_[pos_]; }

    void skip_whitespace() noexcept {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
    }

    json_value make(json_kind kind, std::size_t at) const {
        json_value v;
        v.kind_ = kind;
        v.source_ = source_;
        v.offset_ = base_ + at;
        return v;
    }

    json_value value(int depth) {
        skip_whitespace();
        if (at_end()) fail(pos_, "expected a value, found the end of the input");
        switch (peek()) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': {
                json_value v = make(json_kind::string, pos_);
                v.string_ = string();
                return v;
            }
            case 't': return literal("true", json_kind::boolean, true);
            case 'f': return literal("false", json_kind::boolean, false);
            case 'n': return literal("null", json_kind::null, false);
            default:
                if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
                fail(pos_, "expected a value, found ", found());
        }
    }

    json_value literal(std::string_view word, json_kind kind, bool boolean) {
        if (text_.substr(pos_, word.size()) != word) fail(pos_, "expected a value, found ", found());
        json_value v = make(kind, pos_);
        v.boolean_ = boolean;
        pos_ += word.size();
        return v;
    }

    void enter(int depth) const {
        if (depth >= max_depth) fail(pos_, "arrays and objects nested deeper than ", max_depth);
    }

    /// The comma-separated items of an array or object, from its opening bracket to `close`;
    /// item() reads one.
    template <class Item>
    void items(char close, const char* what, Item item) {
        ++pos_;  // the opening bracket
        skip_whitespace();
        if (!at_end() && peek() == close) {
            ++pos_;
            return;
        }
        while (true) {
            item();
            skip_whitespace();
            if (!at_end() && peek() == ',') {
                ++pos_;
            } else if (!at_end() && peek() == close) {
                ++pos_;
                return;
            } else {
                fail(pos_, "expected ',' or '", close, "' after ", what, ", found ", found());
            }
        }
    }

    json_value array(int depth) {
        enter(depth);
        json_value v = make(json_kind::array, pos_);
        items(']', "an array element", [&] { v.items_.push_back(value(depth + 1)); });
        return v;
    }

    json_value object(int depth) {
        enter(depth);
        json_value v = make(json_kind::object, pos_);
        const std::size_t start = pos_;
        items('}', "an object member", [&] {
            skip_whitespace();
            if (at_end() || peek() != '"') fail(pos_, "expected a string key, found ", found());
            std::string key = string();
            skip_whitespace();
            if (at_end() || peek() != ':') fail(pos_, "expected ':' after the key, found ", found());
            ++pos_;
            v.items_.push_back(value(depth + 1));
            v.items_.back().key_ = std::move(key);
        });
        refuse_duplicate_keys(v.items_, start);
        return v;
    }

    /// Sorting the keys costs n log n where comparing each pair would cost n^2 on a hostile file.
    void refuse_duplicate_keys(const std::vector<json_value>& members, std::size_t start) const {
        if (members.size() < 2) return;
        std::vector<std::string_view> keys;
        keys.reserve(members.size());
        for (const json_value& m : members) keys.push_back(m.key_);
        std::sort(keys.begin(), keys.end());
        const auto twin = std::adjacent_find(keys.begin(), keys.end());
        if (twin != keys.end()) fail(start, "duplicate key '", *twin, "' in the object");
    }

    /// The string starting at the current '"', unescaped.
    std::string string() {
        const std::size_t start = pos_;
        ++pos_;  // '"'
        std::string out;
        while (true) {
            // A run of bytes that need no attention, appended at once.
            std::size_t run = pos_;
            while (run < text_.size()) {
                const auto c = static_cast<unsigned char>(text_[run]);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++run;
            }
            out.append(text_.substr(pos_, run - pos_));
            pos_ = run;
            if (at_end()) fail(start, "unterminated string");
            const auto c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c == '\\') {
                escape(out);
            } else if (c < 0x20) {
                fail(pos_, "control character ", found(), " in a string (it must be escaped)");
            } else {
                const std::size_t length = utf8_sequence_length(text_.substr(pos_));
                if (length == 0) fail(pos_, "invalid UTF-8 in a string");
                out.append(text_.substr(pos_, length));
                pos_ += length;
            }
        }
    }

    void escape(std::string& out) {
        const std::size_t start = pos_;
        ++pos_;  // '\'
        if (at_end()) fail(start, "unterminated string");
        const char c = peek();
        if (c != 'u') {
            const auto* e = std::find_if(std::begin(json_detail::short_escapes), std::end(json_detail::short_escapes),
                                         [&](const auto& x) { return x.letter == c; });
            if (e == std::end(json_detail::short_escapes)) {
                fail(start, "invalid escape: ", found(), " after a backslash");
            }
            out += e->character;
            ++pos_;
            return;
        }
        ++pos_;
        std::uint32_t code = hex4();
        if (code >= 0xDC00 && code <= 0xDFFF) fail(start, "a low surrogate \\u escape without a high one before it");
        if (code >= 0xD800 && code <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail(start, "a high surrogate \\u escape without a low one after it");
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail(start, "a high surrogate \\u escape without a low one after it");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, code);
    }

    std::uint32_t hex4() {
        std::uint32_t code = 0;
        for (int i = 0; i < 4; ++i, ++pos_) {
            if (at_end()) fail(pos_, "expected 4 hex digits after \\u, found the end of the input");
            const char c = peek();
            std::uint32_t digit = 0;
            if (c >= '0' && c <= '9') {
                digit = static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                digit = static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                digit = static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                fail(pos_, "expected 4 hex digits after \\u, found ", found());
            }
            code = code << 4 | digit;
        }
        return code;
    }

    static void append_utf8(std::string& out, std::uint32_t code) {
        const auto put = [&](std::uint32_t byte) { out += static_cast<char>(static_cast<unsigned char>(byte)); };
        if (code < 0x80) {
            put(code);
        } else if (code < 0x800) {
            put(0xC0 | code >> 6);
            put(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            put(0xE0 | code >> 12);
            put(0x80 | (code >> 6 & 0x3F));
            put(0x80 | (code & 0x3F));
        } else {
            put(0xF0 | code >> 18);
            put(0x80 | (code >> 12 & 0x3F));
            put(0x80 | (code >> 6 & 0x3F));
            put(0x80 | (code & 0x3F));
        }
    }

    /// Consumes the digits at the current position; false if there are none.
    bool digits() noexcept {
        const std::size_t start = pos_;
        while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
        return pos_ != start;
    }

    json_value number() {
        const std::size_t start = pos_;
        json_value v = make(json_kind::number, start);
        if (peek() == '-') ++pos_;
        if (at_end() || peek() < '0' || peek() > '9') fail(pos_, "expected a digit, found ", found());
        if (peek() == '0') {
            ++pos_;
            if (!at_end() && peek() >= '0' && peek() <= '9') fail(start, "a number with a leading zero");
        } else {
            digits();
        }
        bool integral = true;
        if (!at_end() && peek() == '.') {
            integral = false;
            ++pos_;
            if (!digits()) fail(pos_, "expected a digit after the decimal point, found ", found());
        }
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            integral = false;
            ++pos_;
            if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
            if (!digits()) fail(pos_, "expected a digit in the exponent, found ", found());
        }
        const std::string_view literal = text_.substr(start, pos_ - start);
        const char* first = literal.data();
        const char* last = first + literal.size();
        if (integral) {
            const auto [end, ec] = std::from_chars(first, last, v.integer_);
            v.integral_ = ec == std::errc{} && end == last;  // else too large for int64: a double only
        }
        const auto [end, ec] = std::from_chars(first, last, v.number_);
        if (ec == std::errc::result_out_of_range) {
            if (decimal_exponent(literal) > 0) fail(start, "the number ", literal, " does not fit a double");
            v.number_ = literal[0] == '-' ? -0.0 : 0.0;  // underflow: as close to zero as it gets
        } else if (ec != std::errc{} || end != last) {
            fail(start, "the number ", literal, " cannot be read");  // not expected: the grammar was checked
        }
        return v;
    }

    /// The power of ten of a number's leading significant digit, about (saturating): tells
    /// overflow (positive) from underflow when from_chars finds a number out of range.
    static long long decimal_exponent(std::string_view literal) noexcept {
        const std::size_t e = literal.find_first_of("eE");
        const std::string_view mantissa = literal.substr(0, e);
        long long exponent = 0;
        if (e != std::string_view::npos) {
            bool negative = false;
            for (char c : literal.substr(e + 1)) {
                if (c == '-') negative = true;
                if (c >= '0' && c <= '9' && exponent < 1'000'000'000) exponent = exponent * 10 + (c - '0');
            }
            if (negative) exponent = -exponent;
        }
        long long position = -1;  // of the first significant digit, counted from the units
        const std::size_t point = std::min(mantissa.find('.'), mantissa.size());
        for (std::size_t i = 0; i < mantissa.size(); ++i) {
            if (mantissa[i] >= '1' && mantissa[i] <= '9') {
                position = i < point ? static_cast<long long>(point - i) - 1 : -static_cast<long long>(i - point);
                break;
            }
        }
        return position + exponent;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t base_;
    std::shared_ptr<const std::string> source_;
};

inline json_value json_value::parse(std::string_view text, std::string name, std::size_t base_offset) {
    return parser(text, std::move(name), base_offset).document();
}

}  // namespace ternary::inline TERNARY_ABI::io
