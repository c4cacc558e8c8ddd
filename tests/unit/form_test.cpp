// web/form: the /auth/token body is read as HA's aiohttp reads it (contract §1.1, §0.2).
#include <gtest/gtest.h>

#include "web/form.hpp"

using gatehouse::web::Form;

TEST(Form, UrlencodedFieldsAreDecodedAndTheFirstOfANameWins) {
  auto form = Form::read("application/x-www-form-urlencoded", "grant_type=authorization_code&code=a%2Bb+c&code=second&empty=&bare");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->value("grant_type"), "authorization_code");
  EXPECT_EQ(form->value("code"), "a+b c");
  EXPECT_EQ(form->get("empty"), std::optional<std::string_view>(""));
  EXPECT_EQ(form->get("bare"), std::optional<std::string_view>(""));
  EXPECT_FALSE(form->get("missing"));
}

TEST(Form, MediaTypeIsCaseInsensitiveAndParametersAreIgnored) {
  auto form = Form::read("Application/X-WWW-Form-Urlencoded; charset=UTF-8", "a=1");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->value("a"), "1");
}

TEST(Form, ABodyWithoutAFormContentTypeIsAnEmptyForm) {
  // HA answers such a token request 400 unsupported_grant_type: it saw no grant_type (§0.2).
  for (const char* type : {"", "application/json", "text/plain", "application/octet-stream"}) {
    auto form = Form::read(type, "grant_type=authorization_code&code=x&client_id=y");
    ASSERT_TRUE(form) << type;
    EXPECT_TRUE(form->empty()) << type;
  }
}

TEST(Form, MultipartAsHomeAssistantJsWebsocketSendsIt) {
  const std::string body =
      "------b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nauthorization_code\r\n"
      "------b\r\nContent-Disposition: form-data; name=\"client_id\"\r\n\r\nhttp://ha/\r\n"
      "------b\r\ncontent-disposition: form-data; name=code\r\n\r\nabc\r\ndef\r\n------b--\r\n";
  auto form = Form::read("multipart/form-data; boundary=\"----b\"", body);
  ASSERT_TRUE(form);
  EXPECT_EQ(form->value("grant_type"), "authorization_code");
  EXPECT_EQ(form->value("client_id"), "http://ha/");
  EXPECT_EQ(form->value("code"), "abc\r\ndef");
}

TEST(Form, BrokenMultipartIsNotAForm) {
  EXPECT_FALSE(Form::read("multipart/form-data", "--x\r\n\r\n"));                       // no boundary
  EXPECT_FALSE(Form::read("multipart/form-data; boundary=x", "garbage"));              // no delimiter
  EXPECT_FALSE(Form::read("multipart/form-data; boundary=x", "--x\r\nNo-Colon\r\n\r\nv\r\n--x--"));
  EXPECT_FALSE(Form::read("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--"));
  EXPECT_FALSE(Form::read("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv"));
}

TEST(Form, TooManyFieldsIsNotAForm) {
  std::string body;
  for (std::size_t i = 0; i <= Form::kMaxFields; ++i) body += "f" + std::to_string(i) + "=1&";
  EXPECT_FALSE(Form::read("application/x-www-form-urlencoded", body));
}
