// Fuzz target: web::Form::read, which reads /auth/token bodies as HA does.
// Input: the Content-Type value up to the first '\n', then the body (no '\n': no Content-Type, all body).
// Besides "no crash": a form has at most kMaxFields fields, get() answers with the first field of a
// name, a body that is not a form reads as an empty form, and media_type() is idempotent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "web/form.hpp"

using gatehouse::web::Form;
using gatehouse::web::media_type;

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "form invariant broken: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view content_type = newline == std::string_view::npos ? std::string_view() : input.substr(0, newline);
  const std::string_view body = newline == std::string_view::npos ? input : input.substr(newline + 1);

  const std::string type = media_type(content_type);
  if (media_type(type) != type) fail("media_type is not idempotent");
  const bool is_form = type == "application/x-www-form-urlencoded" || type == "multipart/form-data";

  const auto form = Form::read(content_type, body);
  if (!form) {
    if (!is_form) fail("a body that is not a form was refused instead of read as empty");
    return 0;
  }
  if (!is_form && !form->empty()) fail("a body that is not a form has fields");
  if (form->fields().size() > Form::kMaxFields) fail("more fields than kMaxFields");
  for (std::size_t i = 0; i < form->fields().size(); ++i) {
    const auto& [name, value] = form->fields()[i];
    std::size_t first = 0;
    while (form->fields()[first].first != name) ++first;
    const auto got = form->get(name);
    if (!got || *got != form->fields()[first].second) fail("get() does not answer with the first field of the name");
    (void)value;
  }
  return 0;
}
