// A small HTTP/1.1 server for `llmops ui`: plain sockets, one thread per connection (capped),
// Beast's parser fed by hand so every read has a deadline, keep-alive, and Server-Sent Event
// streams. Knows nothing of llmops: the handler (ui/api.cpp) does the rest.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace llmops::ui {

struct Request {
  std::string method;  // GET, POST, ...
  std::string target;  // as sent: "/api/runs?limit=5"
  std::string path;    // %-decoded, without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string peer;  // "127.0.0.1"
  std::string header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

// Splits "a=1&b=x%20y" into a map; false (and `bad` names the parameter) on a bad %-escape or a
// name given twice.
bool parse_query(const std::string& query, std::map<std::string, std::string>& out,
                 std::string& bad);
// %-decodes; false on a bad escape (or NUL). '+' is a space only when `plus_is_space`.
bool percent_decode(const std::string& in, std::string& out, bool plus_is_space);

class Connection;

// An event in the text/event-stream format: "id: ..\nevent: ..\ndata: ..\n\n" (one data line
// per line of `data`).
void format_event(std::string& out, const std::string& id, const std::string& name,
                  const std::string& data);

// What a handler sees of its connection: send one response, or turn it into an event stream.
class Exchange {
 public:
  explicit Exchange(Connection& c) : conn_(c) {}
  void send(const Response& r);
  // A response whose body follows by write(): the status line and headers with Content-Length
  // `size`; false when nothing more should be written (the peer is gone, or it was HEAD).
  bool send_file_head(const Response& r, size_t size);
  bool write(const char* data, size_t n);
  // Starts a text/event-stream response (the connection closes when the stream ends).
  bool start_events();
  // One event ("" event name: a message); false when the peer is gone.
  bool event(const std::string& id, const std::string& name, const std::string& data);
  // Several events made by format_event, in one write.
  bool events(const std::string& formatted) { return write(formatted.data(), formatted.size()); }
  bool comment(const std::string& text);  // ": text" (a heartbeat)
  bool retry(int ms);
  // True when the peer closed (or sent anything: an event stream's client never does).
  bool peer_gone();
  bool sent() const { return sent_; }

 private:
  Connection& conn_;
  bool sent_ = false;
};

using Handler = std::function<void(const Request&, Exchange&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: the kernel picks (see HttpServer::port)
  int max_connections = 64;
  std::chrono::milliseconds header_timeout{10'000}, idle_timeout{30'000}, write_timeout{10'000};
  size_t max_header_bytes = 16 * 1024, max_body_bytes = 64 * 1024;
  size_t max_target_bytes = 8 * 1024;
};

class HttpServer {
 public:
  HttpServer() = default;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens ("" on success, else why not); port() is known from here on.
  std::string listen(const ServerOptions& options);
  // Starts accepting connections, each served by `handler`.
  void run(Handler handler);
  int port() const { return port_; }
  // Stops accepting, wakes every connection (streams included) and waits for their threads.
  void stop();

 private:
  void accept_loop();
  void serve(int fd, std::string peer);

  ServerOptions options_;
  Handler handler_;
  int listen_fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::set<int> fds_;
  std::map<int, std::thread> threads_;  // by fd: the connections being served
  std::vector<std::thread> done_;       // finished ones, joined by the acceptor
  int active_ = 0;
};

}  // namespace llmops::ui
