// Reports arriving by mail (RFC 8460 §5.3): the report part is found in the message as
// senders write it, whatever wraps it, and a message without one is refused.
#include "core/tlsrpt_mail.hpp"

#include <gtest/gtest.h>
#include <string>

namespace moat {
namespace {

// Shaped like the reports Google and Microsoft send: multipart/report, a text part, then the
// gzip report in base64 ("hello" gzip-compressed here, split over lines as mailers do).
const std::string kMessage =
    "From: noreply-smtp-tls-reporting@reporter.example\r\n"
    "To: tlsrpt@example.test\r\n"
    "Subject: Report Domain: example.test Submitter: reporter.example Report-ID: <x@y>\r\n"
    "TLS-Report-Domain: example.test\r\n"
    "TLS-Report-Submitter: reporter.example\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report;\r\n"
    "\treport-type=\"tlsrpt\"; boundary=\"=_outer\"\r\n"
    "\r\n"
    "preamble, ignored\r\n"
    "--=_outer\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "This is an aggregate TLS report.\r\n"
    "--=_outer\r\n"
    "Content-Type: application/tlsrpt+gzip;\r\n"
    "  name=\"reporter.example!example.test!1!2!x.json.gz\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment\r\n"
    "\r\n"
    "H4sIAAAAAAAAA8tIzcnJ\r\n"
    "BwCGphA2BQAAAA==\r\n"
    "--=_outer--\r\n"
    "epilogue, ignored\r\n";

TEST(TlsrptMail, FindsTheBase64GzipPart) {
  auto bodies = tlsrpt_bodies(kMessage);
  ASSERT_TRUE(bodies) << bodies.error().message;
  ASSERT_EQ(bodies->size(), 1u);
  const std::string& b = bodies->front();
  ASSERT_EQ(b.size(), 25u);
  EXPECT_EQ(static_cast<unsigned char>(b[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(b[1]), 0x8b);
}

TEST(TlsrptMail, TakesGzipAndJsonAsTheyAre) {
  const std::string gz("\x1f\x8b\x08rest", 7);
  EXPECT_EQ(tlsrpt_bodies(gz)->front(), gz);
  EXPECT_EQ(tlsrpt_bodies("\n  {\"a\": 1}\n")->front(), "\n  {\"a\": 1}\n");
}

TEST(TlsrptMail, FindsNestedAndSevenBitJsonPartsWithBareLineFeeds) {
  const std::string message = "Content-Type: multipart/mixed; boundary=outer\n"
                              "\n"
                              "--outer\n"
                              "Content-Type: multipart/report; boundary=\"inner\"\n"
                              "\n"
                              "--inner\n"
                              "Content-Type: application/tlsrpt+json\n"
                              "\n"
                              "{\"first\": 1}\n"
                              "--inner--\n"
                              "--outer\n"
                              "content-type: APPLICATION/TLSRPT+JSON\n"
                              "content-transfer-encoding: 7bit\n"
                              "\n"
                              "{\"second\": 2}\n"
                              "--outer--\n";
  auto bodies = tlsrpt_bodies(message);
  ASSERT_TRUE(bodies) << bodies.error().message;
  ASSERT_EQ(bodies->size(), 2u);
  EXPECT_EQ((*bodies)[0], "{\"first\": 1}");
  EXPECT_EQ((*bodies)[1], "{\"second\": 2}");
}

TEST(TlsrptMail, RefusesMessagesWithoutAUsableReport) {
  EXPECT_TRUE(tlsrpt_bodies("Subject: hi\r\n\r\njust text\r\n")
                  .error()
                  .message.starts_with("neither a report"));
  const std::string qp = "Content-Type: multipart/report; boundary=b\n\n--b\n"
                         "Content-Type: application/tlsrpt+json\n"
                         "Content-Transfer-Encoding: quoted-printable\n\n{}\n--b--\n";
  EXPECT_EQ(tlsrpt_bodies(qp).error().message,
            "the report part has Content-Transfer-Encoding quoted-printable, which moat does not "
            "decode");
  const std::string bad64 = "Content-Type: multipart/report; boundary=b\n\n--b\n"
                            "Content-Type: application/tlsrpt+gzip\n"
                            "Content-Transfer-Encoding: base64\n\nH4s*AAA\n--b--\n";
  EXPECT_EQ(tlsrpt_bodies(bad64).error().message, "the report part is not valid base64");
}

TEST(TlsrptMail, BoundsNesting) {
  std::string message;
  for (int i = 0; i < 12; ++i)
    message += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
               std::to_string(i) + "\n";
  message += "Content-Type: application/tlsrpt+json\n\n{}\n";
  auto r = tlsrpt_bodies(message);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the message nests MIME parts more than 8 deep");
}

} // namespace
} // namespace moat
