#include "config/json_text.hpp"

#include "messages/errors.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

namespace flowgate {

namespace {

/// Boost.JSON's value builder (boost/json/detail/handler.hpp) with exact
/// numbers. Boost 1.81 converts some decimal texts to a double one ULP off
/// (29% of random doubles written in their shortest form; 1e-6 steps in
/// +-1e6 are exact), so a number an activity returned or a user sent could
/// change on its way through the store. The number's text is converted
/// again with std::from_chars, which rounds correctly.
class precise_handler {
public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  boost::json::value_stack st;

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) { return true; }
  bool on_object_end(std::size_t n, boost::json::error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(boost::json::string_view s, boost::json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, boost::json::string_view, boost::json::error_code&) {
    number_.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, boost::json::string_view, boost::json::error_code&) {
    number_.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, boost::json::string_view s, boost::json::error_code& ec) {
    number_.append(s.data(), s.size());
    double exact = 0;
    auto* end = number_.data() + number_.size();
    auto [ptr, err] = std::from_chars(number_.data(), end, exact);
    if (err == std::errc{} && ptr == end) {
      d = exact;
    }
    number_.clear();
    // Boost reads 1e30308 as infinity, which JSON cannot write back (found by
    // fuzz_json_document); a number that underflows is 0 as in Boost.
    if (!std::isfinite(d)) {
      ec = boost::json::error::exponent_overflow;
      return false;
    }
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(boost::json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return true; }

private:
  /// The parts of a number split over several writes.
  std::string number_;
};

/// Parses one value from the start of `text`; `consumed` is where it ended.
boost::json::value parse_prefix(std::string_view text, const boost::json::parse_options& opts,
                                size_t& consumed, boost::system::error_code& ec) {
  boost::json::basic_parser<precise_handler> p{opts};
  p.handler().st.reset();
  consumed = p.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    return nullptr;
  }
  return p.handler().st.release();
}

} // namespace

boost::json::value parse_json(std::string_view text, boost::system::error_code& ec) {
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth;
  size_t consumed = 0;
  auto v = parse_prefix(text, opts, consumed, ec);
  if (!ec && text.find_first_not_of(" \t\r\n", consumed) != std::string_view::npos) {
    ec = boost::json::error::extra_data;
    return nullptr;
  }
  return v;
}

size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  const auto n = text.size();
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < n) {
    auto c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > n) {
      return i;
    }
    for (size_t k = 1; k < len; ++k) {
      auto cc = byte(i + k);
      if ((cc & 0xC0) != 0x80) {
        return i;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

caf::expected<boost::json::value> parse_json_document(std::string_view text, std::string_view what,
                                                      size_t max_bytes) {
  if (text.size() > max_bytes) {
    return make_error(errc::payload_too_large,
                      std::string{what} + ": document is " + std::to_string(text.size()) +
                        " bytes, the limit is " + std::to_string(max_bytes));
  }
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return make_error(errc::malformed_json, std::string{what} +
                                              ": the document is empty (give a JSON value, e.g. {} "
                                              "or null)");
  }
  if (auto bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    return make_error(errc::malformed_json, std::string{what} + ": invalid UTF-8 at byte " +
                                              std::to_string(bad) + " (JSON text must be UTF-8)");
  }
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth;
  boost::system::error_code ec;
  size_t consumed = 0;
  auto doc = parse_prefix(text, opts, consumed, ec);
  if (ec) {
    return make_error(errc::malformed_json, std::string{what} + ": malformed JSON at byte " +
                                              std::to_string(consumed) + ": " + ec.message());
  }
  // write_some stops after one complete value: anything but whitespace after it is an error.
  auto rest = text.substr(consumed);
  auto junk = rest.find_first_not_of(" \t\r\n");
  if (junk != std::string_view::npos) {
    return make_error(errc::malformed_json, std::string{what} + ": malformed JSON at byte " +
                                              std::to_string(consumed + junk) +
                                              ": unexpected text after the document");
  }
  return doc;
}

namespace {

void write_canonical(const boost::json::value& v, std::string& out) {
  if (v.is_object()) {
    const auto& obj = v.get_object();
    std::vector<const boost::json::key_value_pair*> items;
    items.reserve(obj.size());
    for (const auto& kv : obj) {
      items.push_back(&kv);
    }
    std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->key() < b->key(); });
    out.push_back('{');
    bool first = true;
    for (auto* kv : items) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      out += boost::json::serialize(boost::json::value(kv->key()));
      out.push_back(':');
      write_canonical(kv->value(), out);
    }
    out.push_back('}');
  } else if (v.is_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& x : v.get_array()) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      write_canonical(x, out);
    }
    out.push_back(']');
  } else {
    out += boost::json::serialize(v);
  }
}

} // namespace

std::string canonical_json(const boost::json::value& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

std::string_view json_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
  case boost::json::kind::null:
    return "null";
  case boost::json::kind::bool_:
    return "boolean";
  case boost::json::kind::int64:
  case boost::json::kind::uint64:
    return "integer";
  case boost::json::kind::double_:
    return "number";
  case boost::json::kind::string:
    return "string";
  case boost::json::kind::array:
    return "array";
  case boost::json::kind::object:
    return "object";
  }
  return "value";
}

} // namespace flowgate
