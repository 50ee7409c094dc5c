// libFuzzer target: arbitrary bytes as a safetensors file, as a JSON document and as a shard
// index. Parsing must end in a ternary::error or in a result whose every part can be read (with
// no exception after that), and what was read must survive a round trip: a parsed file rewritten
// by safetensors_writer parses to the same tensors, a parsed string re-quoted by json_quote
// parses to the same string.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <ternary/io/json.hpp>
#include <ternary/io/safetensors.hpp>

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

/// Visits every value; strings go through json_quote and back.
std::size_t walk(const ternary::io::json_value& v) {
    using ternary::io::json_kind;
    switch (v.kind()) {
        case json_kind::null: return 1;
        case json_kind::boolean: return v.as_bool() ? 2 : 3;
        case json_kind::number:
            return v.is_integer() ? static_cast<std::size_t>(v.as_int()) : static_cast<std::size_t>(v.as_number() != 0);
        case json_kind::string: {
            const auto quoted = ternary::io::json_quote(v.as_string());
            require(ternary::io::json_value::parse(quoted, "quoted").as_string() == v.as_string());
            return v.as_string().size();
        }
        case json_kind::array: {
            std::size_t sum = 0;
            for (const auto& e : v.as_array()) sum += walk(e);
            return sum;
        }
        case json_kind::object: {
            std::size_t sum = 0;
            for (const auto& m : v.members()) {
                require(v.find(m.key()) == &m);  // keys are unique
                sum += m.key().size() + walk(m);
            }
            return sum;
        }
    }
    return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // Only the parses may throw (a ternary::error); what follows a successful one may not.
    std::optional<ternary::io::safetensors_file> file;
    std::optional<ternary::io::json_value> document;
    std::map<std::string, std::string, std::less<>> index;
    try {
        file = ternary::io::safetensors_file::parse(bytes, "fuzz");
    } catch (const ternary::error&) {
    }
    try {
        document = ternary::io::json_value::parse(text, "fuzz");
    } catch (const ternary::error&) {
    }
    try {
        index = ternary::io::parse_safetensors_index(text, "fuzz");
    } catch (const ternary::error&) {
    }
    std::size_t sum = 0;
    if (file) {
        ternary::io::safetensors_writer writer;
        for (const auto& [key, value] : file->metadata()) writer.metadata(key, value);
        for (const auto& t : file->tensors()) {
            require(file->find(t.name) == &t);
            for (std::uint8_t b : t.data) sum += b;  // every byte of every tensor is inside the input
            writer.add(t.name, t.dtype, t.shape, t.data);
        }
        const auto rewritten = writer.bytes();
        const auto again = ternary::io::safetensors_file::parse(rewritten, "rewritten");
        require(again.tensors().size() == file->tensors().size() && again.metadata() == file->metadata());
        for (std::size_t i = 0; i < again.tensors().size(); ++i) {
            const auto& a = file->tensors()[i];
            const auto& b = again.tensors()[i];
            require(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape &&
                    std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end()));
        }
    }
    if (document) sum += walk(*document);
    for (const auto& [name, shard] : index) sum += name.size() + shard.size();
    return sum == 1 ? 1 : 0;  // keeps the work from being optimized away
}
