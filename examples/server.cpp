// ternary-server: a model behind an OpenAI-compatible HTTP API, for many users at once.
// POST /v1/chat/completions and /v1/completions (streamed as server-sent events or not),
// GET /v1/models and /health. Requests decode together by continuous batching on one copy of
// the weights (server/engine.hpp); request bodies are checked field by field
// (server/request.hpp). docs/server.md says how to run it, docs/security.md what it trusts.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include <httplib.h>

#include <ternary/io/load.hpp>
#include <ternary/thread_pool.hpp>
#include <ternary/tokenizer/chat.hpp>
#include <ternary/tokenizer/tokenizer.hpp>

#include "chat_template_choice.hpp"
#include "head_option.hpp"
#include "model_options.hpp"
#include "numbers.hpp"
#include "options.hpp"
#include "packing_option.hpp"
#include "server/engine.hpp"
#include "server/request.hpp"

namespace {

using server::api_error;
using server::json;

const std::string usage = std::string(
    "usage: ternary-server -m MODEL [-z TOKENIZER] [options]\n"
    "  -m MODEL          checkpoint (GGUF, a Hugging Face directory, llama2.c .bin)\n"
    "  -z TOKENIZER      a tokenizer file or directory, for models that do not carry one\n"
    "  --host HOST       address to listen on (default 127.0.0.1: this machine only)\n"
    "  --port PORT       port (default 8080; 0 picks a free one, printed at start)\n"
    "  --parallel N      requests decoding together (default 4)\n"
    "  --ctx-size N      KV cache positions of all requests together (default: the model's\n"
    "                    context times --parallel); one request gets at most the model's context\n"
    "  --queue N         requests waiting for a slot before new ones get 503 (default 64)\n"
    "  --max-body BYTES  largest request body; larger ones get 413 (default 1048576)\n"
    "  --http-threads N  connections served at once; more wait for one (default 2 x --parallel + 4)\n"
    "  --api-key KEY     require 'Authorization: Bearer KEY' on /v1/ (default: TERNARY_API_KEY, else none)\n"
    "  --alias NAME      the model's name in the API (default: the file's name)\n"
    "  --template NAME   chat template: bitnet, llama3, chatml or phi3 (default: as ternary-chat chooses)\n"
    ) + examples::head_type_help + examples::packing_help +
    "  -t THREADS        threads for the model (default: all cores, or TERNARY_THREADS)\n"
    "  -h, --help        this text\n";

struct options {
    std::string model, tokenizer, host = "127.0.0.1", api_key, alias, chat_template;
    int port = 8080;
    std::size_t parallel = 4, ctx_size = 0, queue = 64, max_body = 1 << 20, http_threads = 0, threads = 0;
    std::string packing = "auto";
    std::string head_type = "stored";
};

[[noreturn]] void fail(const std::string& message, bool show_usage = true) {
    std::fprintf(stderr, "ternary-server: error: %s\n%s", message.c_str(), show_usage ? usage.c_str() : "");
    std::exit(1);
}

std::size_t positive(const char* value) {
    const auto n = examples::parse_number<std::size_t>(value);
    if (n == 0) throw std::invalid_argument("it must be at least 1");
    return n;
}

int port_number(const char* value) {
    const auto port = examples::parse_number<unsigned>(value);
    if (port > 65535) throw std::invalid_argument("a port is at most 65535");
    return static_cast<int>(port);
}

options parse(int argc, char** argv) {
    options o;
    if (const char* key = std::getenv("TERNARY_API_KEY")) o.api_key = key;
    examples::read_options(argc, argv, usage, [](const std::string& message) { fail(message); },
        [&](std::string_view flag) {
            if (flag == "--int8-head") o.head_type = "int8";
            else return false;
            return true;
        },
        [&](std::string_view arg, const char* value) {
            if (arg == "-m") o.model = value;
            else if (arg == "-z") o.tokenizer = value;
            else if (arg == "--host") o.host = value;
            else if (arg == "--port") o.port = port_number(value);
            else if (arg == "--parallel") o.parallel = positive(value);
            else if (arg == "--ctx-size") o.ctx_size = positive(value);
            else if (arg == "--queue") o.queue = positive(value);
            else if (arg == "--max-body") o.max_body = positive(value);
            else if (arg == "--http-threads") o.http_threads = positive(value);
            else if (arg == "--api-key") o.api_key = value;
            else if (arg == "--alias") o.alias = value;
            else if (arg == "--template") o.chat_template = value;
            else if (examples::read_model_option(arg, value, o.packing, o.head_type)) {}
            else if (arg == "-t") o.threads = examples::parse_threads(value);
            else return false;
            return true;
        });
    if (o.model.empty()) fail("pass a model: -m MODEL");
    if (o.http_threads == 0) o.http_threads = 2 * o.parallel + 4;
    return o;
}

void send_error(httplib::Response& res, const api_error& e) {
    res.status = e.status;
    res.set_content(server::to_text(e.body()), "application/json");
}

std::int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// The HTTP side: routes, checks, the OpenAI JSON shapes, streaming.
template <class Model>
class http_api {
public:
    http_api(const Model& model, const ternary::tokenizer::any_tokenizer& tokenizer,
             std::optional<ternary::tokenizer::chat_format> format, std::string chat_problem, const options& o)
        : model_(model), tokenizer_(tokenizer), format_(std::move(format)), chat_problem_(std::move(chat_problem)),
          options_(o), name_(o.alias.empty() ? std::filesystem::path(o.model).filename().string() : o.alias),
          engine_(model, tokenizer,
                  {.parallel = o.parallel,
                   .ctx_size = o.ctx_size != 0 ? o.ctx_size : model.config().seq_len * o.parallel,
                   .queue_limit = o.queue}) {}

    /// Ends the requests in flight (with an error) so that the HTTP threads can finish.
    void shutdown() { engine_.stop(); }

    void install(httplib::Server& svr) {
        svr.set_payload_max_length(options_.max_body);
        const std::size_t threads = options_.http_threads;
        svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        svr.set_read_timeout(30, 0);
        svr.set_write_timeout(30, 0);
        svr.set_keep_alive_timeout(5);
        svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            if (options_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
            if (req.get_header_value("Authorization") == "Bearer " + options_.api_key) return httplib::Server::HandlerResponse::Unhandled;
            send_error(res, api_error(401, "a valid API key is needed: send 'Authorization: Bearer KEY'", "", "invalid_api_key",
                                      "authentication_error"));
            return httplib::Server::HandlerResponse::Handled;
        });
        svr.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
            if (!res.body.empty()) return;
            if (res.status == 413) {
                send_error(res, api_error(413, "the body exceeds the limit of " + std::to_string(options_.max_body) + " bytes",
                                          "", "body_too_large"));
            } else if (res.status == 404) {
                send_error(res, api_error(404, "no such endpoint", "", "not_found"));
            } else {
                send_error(res, api_error(res.status, "HTTP error " + std::to_string(res.status)));
            }
        });
        svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            send_error(res, api_error(500, what, "", "internal_error", "server_error"));
        });
        svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(server::to_text({{"status", "ok"}, {"active", engine_.active()}, {"waiting", engine_.waiting()}}),
                            "application/json");
        });
        svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
            const json model = {{"id", name_}, {"object", "model"}, {"created", started_}, {"owned_by", "ternary"}};
            res.set_content(server::to_text({{"object", "list"}, {"data", json::array({model})}}), "application/json");
        });
        svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, false); });
        svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, true); });
    }

private:
    /// The prompt's ids: the chat template around the messages, or the prompt's text.
    std::vector<std::size_t> prompt_ids(const server::generation_request& r) const {
        if (!r.chat) {
            // Untrusted text: special tokens are not parsed (their text stays text).
            auto ids = tokenizer_.encode(r.prompt, tokenizer_.adds_bos(), false);
            if (ids.empty()) throw api_error(400, "the prompt is empty", "prompt", "invalid_value");
            return ids;
        }
        if (!format_) throw api_error(400, "this model has no chat template: " + chat_problem_ + "; use /v1/completions", "", "no_chat_template");
        std::vector<std::size_t> ids = format_->begin();
        for (const server::chat_message& m : r.messages) {
            const auto part = format_->message({m.role, m.content});
            ids.insert(ids.end(), part.begin(), part.end());
        }
        const auto prompt = format_->generation_prompt();
        ids.insert(ids.end(), prompt.begin(), prompt.end());
        return ids;
    }

    std::shared_ptr<server::job> job_of(const server::generation_request& r) {
        auto j = std::make_shared<server::job>();
        j->prompt = prompt_ids(r);
        const std::size_t context = engine_.context();
        if (j->prompt.size() >= context) {
            throw api_error(400, "the prompt has " + std::to_string(j->prompt.size()) + " tokens; the context holds " +
                                     std::to_string(context) + " with room for at least one more", r.chat ? "messages" : "prompt",
                            "context_length_exceeded");
        }
        const std::size_t room = context - j->prompt.size();
        if (r.max_tokens && *r.max_tokens > room) {
            throw api_error(400, "max_tokens " + std::to_string(*r.max_tokens) + " exceeds the room left in the context: " +
                                     std::to_string(context) + " positions, the prompt takes " + std::to_string(j->prompt.size()) +
                                     ", so at most " + std::to_string(room), "max_tokens", "context_length_exceeded");
        }
        j->max_tokens = r.max_tokens.value_or(room);
        j->sampling = r.sampling;
        if (!r.seeded) j->sampling.seed = seeds_();
        try {
            (void)ternary::bitnet::sampler(j->sampling);
        } catch (const ternary::error& e) {
            throw api_error(400, e.what(), "", "invalid_value");
        }
        j->stop = r.stop;
        return j;
    }

    json usage_of(const server::job& j) const {
        return {{"prompt_tokens", j.prompt.size()},
                {"completion_tokens", j.completion_tokens},
                {"total_tokens", j.prompt.size() + j.completion_tokens}};
    }

    /// One streamed chunk or the whole response's choice, in the endpoint's shape.
    json choice(bool chat, const std::string& text, const json& finish_reason, bool stream, bool first) const {
        json c = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
        if (!chat) {
            c["text"] = text;
        } else if (!stream) {
            c["message"] = {{"role", "assistant"}, {"content", text}};
        } else {
            json delta = json::object();
            if (first) delta["role"] = "assistant";
            if (!text.empty() || first) delta["content"] = text;
            c["delta"] = delta;
        }
        return c;
    }

    json envelope(bool chat, bool stream, const std::string& id, std::int64_t created) const {
        return {{"id", id},
                {"object", chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
                {"created", created},
                {"model", name_},
                {"system_fingerprint", nullptr}};
    }

    void generate(const httplib::Request& req, httplib::Response& res, bool chat) {
        std::shared_ptr<server::job> j;
        server::generation_request r;
        try {
            r = server::parse_request(req.body, chat);
            if (!r.model.empty() && r.model != name_) {
                throw api_error(404, "the model '" + r.model + "' does not exist; this server serves '" + name_ + "'", "model",
                                "model_not_found");
            }
            j = job_of(r);
            engine_.submit(j);
        } catch (const api_error& e) {
            send_error(res, e);
            return;
        } catch (const ternary::error& e) {  // the tokenizer or template refused the text
            send_error(res, api_error(400, e.what(), "", "invalid_value"));
            return;
        }
        const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);
        const std::int64_t created = unix_time();
        if (!r.stream) {
            std::string text;
            for (bool done = false; !done;) text += j->take(std::chrono::milliseconds(1000), done);
            if (!j->error.empty()) {
                send_error(res, api_error(j->error.find("KV cache") != std::string::npos ? 400 : 500, j->error, "", "generation_failed",
                                          "server_error"));
                return;
            }
            json body = envelope(chat, false, id, created);
            body["choices"] = json::array({choice(chat, text, j->finish_reason, false, false)});
            body["usage"] = usage_of(*j);
            res.set_content(server::to_text(body), "application/json");
            return;
        }
        res.set_header("Cache-Control", "no-cache");
        const bool include_usage = r.include_usage;
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, j, chat, id, created, include_usage](std::size_t, httplib::DataSink& sink) {
                try {
                    return stream_events(*j, chat, id, created, include_usage, sink);
                } catch (const std::exception& e) {  // nothing may escape into the HTTP thread
                    std::fprintf(stderr, "ternary-server: stream %s ended: %s\n", id.c_str(), e.what());
                    j->cancelled = true;
                    return false;
                }
            },
            [j](bool success) {
                if (!success) j->cancelled = true;
            });
    }

    /// Writes the job's text as server-sent events until it ends; false if the client left.
    bool stream_events(server::job& job, bool chat, const std::string& id, std::int64_t created, bool include_usage,
                       httplib::DataSink& sink) {
        const auto send = [&](const json& event) {
            const std::string line = "data: " + server::to_text(event) + "\n\n";
            return sink.is_writable() && sink.write(line.data(), line.size());
        };
        const auto chunk = [&](const std::string& text, const json& finish, bool first) {
            json event = envelope(chat, true, id, created);
            event["choices"] = json::array({choice(chat, text, finish, true, first)});
            return send(event);
        };
        bool ok = !chat || chunk("", nullptr, true);
        for (bool done = false; ok && !done;) {
            const std::string text = job.take(std::chrono::milliseconds(100), done);
            if (!text.empty()) ok = chunk(text, nullptr, false);
            else if (!sink.is_writable()) ok = false;  // the client left
        }
        if (!ok) {
            job.cancelled = true;  // frees its slot at the next step
            return false;
        }
        if (!job.error.empty()) {
            ok = send(api_error(500, job.error, "", "generation_failed", "server_error").body());
        } else {
            ok = chunk("", job.finish_reason, false);
            if (ok && include_usage) {
                json event = envelope(chat, true, id, created);
                event["choices"] = json::array();
                event["usage"] = usage_of(job);
                ok = send(event);
            }
        }
        const std::string done_line = "data: [DONE]\n\n";
        if (ok) sink.write(done_line.data(), done_line.size());
        sink.done();
        return true;
    }

    const Model& model_;
    const ternary::tokenizer::any_tokenizer& tokenizer_;
    std::optional<ternary::tokenizer::chat_format> format_;
    std::string chat_problem_;
    const options& options_;
    std::string name_;
    std::int64_t started_ = unix_time();
    std::atomic<std::uint64_t> next_id_{1};
    std::random_device seeds_;
    server::engine<Model> engine_;
};

template <class Model>
void serve(const Model& model, const ternary::tokenizer::any_tokenizer& tokenizer, const options& o) {
    if (tokenizer.vocab_size() > model.config().vocab_size) {
        fail("the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens, the model only " +
                 std::to_string(model.config().vocab_size), false);
    }
    std::optional<ternary::tokenizer::chat_format> format;
    std::string chat_problem;
    try {
        format.emplace(tokenizer, examples::choose_chat_template(o.chat_template, model.config(), tokenizer));
    } catch (const std::runtime_error& e) {
        if (!o.chat_template.empty()) fail(e.what(), false);
        chat_problem = e.what();
        std::fprintf(stderr, "ternary-server: /v1/chat/completions is off: %s\n", e.what());
    }
    http_api<Model> api(model, tokenizer, std::move(format), chat_problem, o);
    httplib::Server svr;
    api.install(svr);
    const int port = o.port == 0 ? svr.bind_to_any_port(o.host) : (svr.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port < 0) fail("cannot listen on " + o.host + ":" + std::to_string(o.port), false);
    // SIGINT and SIGTERM stop the server: a thread waits for them (blocked in every other one).
    std::thread signals([&svr, &api] {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGUSR1);
        int signal = 0;
        sigwait(&set, &signal);
        api.shutdown();
        svr.stop();
    });
    std::printf("ternary-server: listening on http://%s:%d (model '%s', %zu parallel, context %zu, %zu threads)\n",
                o.host.c_str(), port,
                (o.alias.empty() ? std::filesystem::path(o.model).filename().string() : o.alias).c_str(), o.parallel,
                model.config().seq_len, ternary::threads());
    std::fflush(stdout);
    svr.listen_after_bind();
    pthread_kill(signals.native_handle(), SIGUSR1);  // if the server stopped for another reason
    signals.join();
    std::fprintf(stderr, "ternary-server: stopped\n");
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: all inherit it
    signal(SIGPIPE, SIG_IGN);                   // a client that leaves is an error return, not a signal
    try {
        if (o.threads != 0) ternary::set_threads(o.threads);
        ternary::io::any_model loaded = ternary::io::load_model(o.model);
        std::visit([&](auto& model) {
            std::optional<ternary::tokenizer::any_tokenizer> tokenizer;
            if (!o.tokenizer.empty()) tokenizer = ternary::tokenizer::load_tokenizer(o.tokenizer, model.config().vocab_size);
            else tokenizer = ternary::tokenizer::tokenizer_of_model(o.model);
            if (!tokenizer) fail(o.model + " carries no tokenizer: pass -z TOKENIZER", false);
            examples::with_packing(model, o.packing, [&](auto& m) {
                examples::apply_head_type(m, o.head_type);
                serve(m, *tokenizer, o);
            });
        }, loaded);
    } catch (const ternary::error& e) {
        std::fprintf(stderr, "ternary-server: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
