// Clears the calling thread's OpenSSL error queue before each TLS I/O
// call (actors/client.hpp, "TLS and the OpenSSL error queue").
//
// OpenSSL's rule: "the current thread's error queue must be empty before
// the TLS/SSL I/O operation is attempted, or SSL_get_error() will not work
// reliably": SSL_get_error reports SSL_ERROR_SSL whenever any error is
// queued, whichever connection queued it. CAF 0.17's OpenSSL transport runs
// every connection on the middleman's thread and never drains the queue
// (it reads it only to log, and logging is compiled out). So when one
// connection failed (a client that exits without a TLS close_notify is an
// "unexpected eof" under OpenSSL 3; a peer refused for its certificate),
// the next SSL_read of a healthy connection on that thread that has
// nothing more to read (SSL_ERROR_WANT_READ) was reported as a failure,
// and CAF closed that connection: links between nodes closed whenever a
// client had come and gone, and then at the next message between them.
//
// These definitions, exported from the executable
// (`--export-dynamic-symbol`, set on flowgate_actors for whatever links
// it), come before libssl's in symbol lookup: libcaf_openssl's calls reach
// them, and they call libssl's with an empty queue. Each is what OpenSSL
// asks of every caller; other callers (Boost.Asio clears the queue itself)
// see no difference.

#include "actors/client.hpp"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace {

template <class Fn> Fn real(const char* name) {
  void* f = dlvsym(RTLD_NEXT, name, "OPENSSL_3.0.0");
  if (f == nullptr) {
    f = dlsym(RTLD_NEXT, name);
  }
  if (f == nullptr) {
    std::fprintf(stderr, "flowgate: cannot find libssl's %s: %s\n", name, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto f = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto f = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return f(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static const auto f = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return f(ssl);
}

int SSL_accept(SSL* ssl) {
  static const auto f = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return f(ssl);
}

} // extern "C"

namespace flowgate {

bool tls_error_queue_cleared() {
  // libcaf_openssl's calls reach these only if the global lookup finds
  // them first (the executable exports them).
  for (auto [name, ours] : {std::pair{"SSL_read", reinterpret_cast<void*>(&SSL_read)},
                            std::pair{"SSL_write", reinterpret_cast<void*>(&SSL_write)},
                            std::pair{"SSL_connect", reinterpret_cast<void*>(&SSL_connect)},
                            std::pair{"SSL_accept", reinterpret_cast<void*>(&SSL_accept)}}) {
    if (dlsym(RTLD_DEFAULT, name) != ours) {
      return false;
    }
  }
  return true;
}

} // namespace flowgate
