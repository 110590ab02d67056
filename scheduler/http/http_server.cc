#include "scheduler/http/http_server.h"

#include <civetweb.h>

#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"

namespace kiln::http {
namespace {

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

std::string UrlDecode(absl::string_view text) {
  std::string out(text.size() + 1, '\0');
  const int n = mg_url_decode(text.data(), static_cast<int>(text.size()), out.data(),
                              static_cast<int>(out.size()), /*is_form_url_encoded=*/1);
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

int LogMessage(const mg_connection* /*connection*/, const char* message) {
  KILN_LOG(WARNING) << "http: " << message;
  return 1;  // handled: civetweb prints nothing itself
}

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options, core::Scheduler* scheduler,
                       store::BlobStore* blobs)
    : api_(options.api, scheduler, blobs) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const HttpServerOptions& options,
                                                               core::Scheduler* scheduler,
                                                               store::BlobStore* blobs) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_listen: expected HOST:PORT, got \"", options.listen, "\""));
  }
  if (options.num_threads < 1) {
    return absl::InvalidArgumentError("http_threads: must be at least 1");
  }
  static const unsigned initialized = mg_init_library(0);
  (void)initialized;
  std::unique_ptr<HttpServer> server(new HttpServer(options, scheduler, blobs));
  const std::string threads = absl::StrCat(options.num_threads);
  const char* civet_options[] = {"listening_ports",
                                 options.listen.c_str(),
                                 "num_threads",
                                 threads.c_str(),
                                 "enable_keep_alive",
                                 "yes",
                                 "request_timeout_ms",
                                 "60000",
                                 nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogMessage;
  server->context_ = mg_start(&callbacks, nullptr, civet_options);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("http_listen: cannot listen on ", options.listen));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::HandleRequest, server.get());
  mg_server_port ports[4] = {};
  const int n = mg_get_server_ports(server->context_, 4, ports);
  if (n < 1 || ports[0].port <= 0) {
    return absl::UnavailableError(absl::StrCat("http_listen: no port bound for ", options.listen));
  }
  server->port_ = ports[0].port;
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (context_ != nullptr) {
    mg_stop(context_);
    context_ = nullptr;
  }
}

int HttpServer::HandleRequest(mg_connection* connection, void* self) {
  static_cast<HttpServer*>(self)->Serve(connection);
  return 1;  // answered (civetweb keeps the connection for the next request)
}

void HttpServer::Serve(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "/";
  if (info->query_string != nullptr) {
    for (absl::string_view part : absl::StrSplit(info->query_string, '&', absl::SkipEmpty())) {
      const size_t eq = part.find('=');
      request.query.emplace_back(
          UrlDecode(part.substr(0, eq)),
          eq == absl::string_view::npos ? "" : UrlDecode(part.substr(eq + 1)));
    }
  }
  if (const char* h = mg_get_header(connection, "Authorization"); h != nullptr) {
    request.authorization = h;
  }
  if (const char* h = mg_get_header(connection, "If-None-Match"); h != nullptr) {
    request.if_none_match = h;
  }
  if (const char* h = mg_get_header(connection, "Origin"); h != nullptr) request.origin = h;
  if (const char* h = mg_get_header(connection, "Host"); h != nullptr) request.host = h;
  HttpResponse response = api_.Handle(request);

  std::ifstream file;
  int64_t length = static_cast<int64_t>(response.body.size());
  if (!response.file_path.empty()) {
    file.open(response.file_path, std::ios::binary);
    if (!file) {
      response = HttpResponse();
      response.status = 500;
      response.body = "{\"error\":{\"code\":\"DATA_LOSS\",\"message\":\"blob has no data file\"}}";
      length = static_cast<int64_t>(response.body.size());
    } else {
      length = response.file_size;
    }
  }
  if (response.status == 304) length = 0;
  std::string head = absl::StrCat(
      "HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status), "\r\n",
      "Content-Type: ", response.content_type, "\r\nContent-Length: ", length,
      "\r\nCache-Control: ", response.cache_control,
      "\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
      // The dashboard fetches nothing from elsewhere; blob: URLs hold images and models.
      "Content-Security-Policy: default-src 'self'; img-src 'self' blob: data:; "
      "connect-src 'self' blob:; script-src 'self' 'unsafe-inline'; "
      "style-src 'self' 'unsafe-inline'\r\n");
  if (!response.etag.empty()) absl::StrAppend(&head, "ETag: ", response.etag, "\r\n");
  if (!response.content_disposition.empty()) {
    absl::StrAppend(&head, "Content-Disposition: ", response.content_disposition, "\r\n");
  }
  head += "\r\n";
  if (mg_write(connection, head.data(), head.size()) <= 0) return;
  if (request.method == "HEAD" || response.status == 304) return;
  if (response.file_path.empty() || !file.is_open()) {
    mg_write(connection, response.body.data(), response.body.size());
    return;
  }
  std::vector<char> buffer(1 << 20);
  int64_t remaining = length;
  while (remaining > 0) {
    const int64_t n = std::min<int64_t>(remaining, static_cast<int64_t>(buffer.size()));
    file.read(buffer.data(), n);
    if (file.gcount() != n) return;  // shorter than recorded: the client sees a cut body
    if (mg_write(connection, buffer.data(), static_cast<size_t>(n)) <= 0) return;
    remaining -= n;
  }
}

}  // namespace kiln::http
