/*
 * test_s3_xml.c - parsing of S3's XML answers: list pages, escaped keys,
 * common prefixes, paging, error documents, multipart and delete results,
 * STS's AssumeRoleWithWebIdentity answer, and bad input (malformed, empty,
 * huge, DTDs) giving errors, not crashes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "walship/s3_sign.h"
#include "walship/s3_xml.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult " NS ">"
    "<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "<Contents><Key>p/a&amp;b</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
    "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>p/x&lt;y&gt;z&apos;&quot;</Key><Size>0</Size></Contents>"
    "<Contents><Key><![CDATA[p/c]]></Key><Size>18446744073709551615</Size></Contents>"
    "<CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

static int parse_list(const char *xml, ws_s3_list_page *pg, ws_err *err)
{
    return ws_s3_xml_parse_list(xml, strlen(xml), pg, err);
}

START_TEST(list_page)
{
    ws_s3_list_page pg;
    ws_err err = {0};
    ck_assert_msg(parse_list(page1, &pg, &err) == 0, "%s", err.msg);
    ck_assert(pg.truncated);
    ck_assert_str_eq(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    ck_assert_uint_eq(pg.n, 4);
    ck_assert_str_eq(pg.items[0].key, "p/a&b");
    ck_assert_uint_eq(pg.items[0].size, 434234);
    ck_assert(!pg.items[0].is_prefix);
    ck_assert_str_eq(pg.items[1].key, "p/x<y>z'\"");
    ck_assert_uint_eq(pg.items[1].size, 0);
    ck_assert_str_eq(pg.items[2].key, "p/c");
    ck_assert_uint_eq(pg.items[2].size, UINT64_MAX);
    ck_assert_str_eq(pg.items[3].key, "p/dir/");
    ck_assert(pg.items[3].is_prefix);
    ws_s3_list_page_free(&pg);
}
END_TEST

START_TEST(list_last_page_and_empty)
{
    ws_s3_list_page pg;
    ws_err err = {0};
    ck_assert_int_eq(parse_list("<ListBucketResult><IsTruncated>false</IsTruncated>"
                                "<Contents><Key>k&#x41;&#66;</Key><Size>1</Size></Contents></ListBucketResult>",
                                &pg, &err),
                     0);
    ck_assert(!pg.truncated);
    ck_assert_ptr_null(pg.next_token);
    ck_assert_uint_eq(pg.n, 1);
    ck_assert_str_eq(pg.items[0].key, "kAB");
    ws_s3_list_page_free(&pg);

    ck_assert_int_eq(parse_list("<ListBucketResult " NS "><KeyCount>0</KeyCount></ListBucketResult>", &pg, &err), 0);
    ck_assert_uint_eq(pg.n, 0);
    ck_assert(!pg.truncated);
    ws_s3_list_page_free(&pg);
}
END_TEST

static void expect_list_error(const char *xml, size_t len, ws_errcode code, const char *needle)
{
    ws_s3_list_page pg;
    ws_err err = {0};
    ck_assert_int_eq(ws_s3_xml_parse_list(xml, len, &pg, &err), -1);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_ptr_null(pg.items);
}

START_TEST(list_bad_input)
{
    expect_list_error("", 0, WS_ERR_CORRUPT, "empty");
    expect_list_error(NULL, 0, WS_ERR_CORRUPT, "empty");
    const char *trunc = "<ListBucketResult><Contents><Key>a</Key>";
    expect_list_error(trunc, strlen(trunc), WS_ERR_CORRUPT, "malformed ListObjectsV2 response: line 1");
    const char *garbage = "\x01\x02 not xml at all";
    expect_list_error(garbage, strlen(garbage), WS_ERR_CORRUPT, "malformed");
    const char *html = "<html><body>502 Bad Gateway</body></html>";
    expect_list_error(html, strlen(html), WS_ERR_CORRUPT, "unexpected root element <html>");
    const char *notok = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    expect_list_error(notok, strlen(notok), WS_ERR_CORRUPT, "without NextContinuationToken");
    const char *badtrunc = "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>";
    expect_list_error(badtrunc, strlen(badtrunc), WS_ERR_CORRUPT, "IsTruncated");
    const char *nokey = "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>";
    expect_list_error(nokey, strlen(nokey), WS_ERR_CORRUPT, "without <Key>");
    const char *badsize = "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>";
    expect_list_error(badsize, strlen(badsize), WS_ERR_CORRUPT, "bad <Size>");
    const char *big = "<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents>"
                      "</ListBucketResult>";
    expect_list_error(big, strlen(big), WS_ERR_CORRUPT, "bad <Size>");
    const char *err403 = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    expect_list_error(err403, strlen(err403), WS_ERR_STORAGE, "AccessDenied: Access Denied");
}
END_TEST

START_TEST(list_dtd_refused)
{
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                      "<ListBucketResult><Contents><Key>&x;</Key></Contents></ListBucketResult>";
    expect_list_error(xxe, strlen(xxe), WS_ERR_CORRUPT, "malformed");
    const char *lol = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\">"
                      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
                      "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
                      "<ListBucketResult><Contents><Key>&d;</Key></Contents></ListBucketResult>";
    expect_list_error(lol, strlen(lol), WS_ERR_CORRUPT, "malformed");
}
END_TEST

START_TEST(list_huge_refused)
{
    size_t n = WS_S3_XML_MAX + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    memcpy(big, "<ListBucketResult>", 18);
    expect_list_error(big, n, WS_ERR_CORRUPT, "exceeds");
    free(big);

    /* Deep nesting is refused by libxml2's depth limit, not a stack overflow. */
    size_t depth = 100000;
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "<ListBucketResult>");
    for (size_t i = 0; i < depth; i++)
        ws_buf_adds(&b, "<a>");
    ck_assert(!b.oom);
    expect_list_error(b.data, b.len, WS_ERR_CORRUPT, "malformed");
    ws_buf_free(&b);
}
END_TEST

START_TEST(error_documents)
{
    ws_s3_error_doc e;
    ws_err err = {0};
    const char *sig = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
                      "<Message>The request signature we calculated does not match the signature you provided."
                      "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    ck_assert_int_eq(ws_s3_xml_parse_error(sig, strlen(sig), &e, &err), 1);
    ck_assert_str_eq(e.code, "SignatureDoesNotMatch");
    ck_assert_str_eq(e.message, "The request signature we calculated does not match the signature you provided.");

    const char *nomsg = "<Error><Code>NoSuchKey</Code></Error>";
    ck_assert_int_eq(ws_s3_xml_parse_error(nomsg, strlen(nomsg), &e, &err), 1);
    ck_assert_str_eq(e.code, "NoSuchKey");
    ck_assert_str_eq(e.message, "");

    /* Control characters cannot break the one-line message; long ones are cut. */
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "<Error><Code>X</Code><Message>line1\nline2&#9;");
    for (int i = 0; i < 1000; i++)
        ws_buf_adds(&b, "m");
    ws_buf_adds(&b, "</Message></Error>");
    ck_assert_int_eq(ws_s3_xml_parse_error(b.data, b.len, &e, &err), 1);
    ck_assert_ptr_null(strchr(e.message, '\n'));
    ck_assert_int_eq(strncmp(e.message, "line1?line2?m", 13), 0);
    ck_assert_uint_eq(strlen(e.message), WS_S3_MESSAGE_MAX - 1);
    ws_buf_free(&b);

    const char *other = "<ListBucketResult/>";
    ck_assert_int_eq(ws_s3_xml_parse_error(other, strlen(other), &e, &err), 0);
    ck_assert_int_eq(ws_s3_xml_parse_error("oops", 4, &e, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_int_eq(ws_s3_xml_parse_error("", 0, &e, &err), -1);
}
END_TEST

START_TEST(multipart_documents)
{
    char *id = NULL;
    ws_err err = {0};
    const char *init = "<InitiateMultipartUploadResult " NS "><Bucket>b</Bucket><Key>k</Key>"
                       "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
                       "</InitiateMultipartUploadResult>";
    ck_assert_int_eq(ws_s3_xml_parse_upload_id(init, strlen(init), &id, &err), 0);
    ck_assert_str_eq(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    free(id);
    const char *noid = "<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>";
    ck_assert_int_eq(ws_s3_xml_parse_upload_id(noid, strlen(noid), &id, &err), -1);
    ck_assert_ptr_null(id);
    ck_assert_int_eq(ws_s3_xml_parse_upload_id("<x", 2, &id, &err), -1);

    ws_s3_error_doc e;
    const char *ok = "<CompleteMultipartUploadResult " NS "><Location>l</Location><Bucket>b</Bucket><Key>k</Key>"
                     "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
    ck_assert_int_eq(ws_s3_xml_check_complete(ok, strlen(ok), &e, &err), 0);
    /* 200 with an Error body: a failure. */
    const char *bad = "<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code>"
                      "<Message>We encountered an internal error. Please try again.</Message></Error>";
    ck_assert_int_eq(ws_s3_xml_check_complete(bad, strlen(bad), &e, &err), -1);
    ck_assert_str_eq(e.code, "InternalError");
    ck_assert_ptr_nonnull(strstr(err.msg, "InternalError: We encountered an internal error"));
    ck_assert_int_eq(ws_s3_xml_check_complete("", 0, &e, &err), -1);
}
END_TEST

START_TEST(delete_results)
{
    ws_s3_delete_result r;
    ws_err err = {0};
    const char *doc = "<DeleteResult " NS "><Deleted><Key>a</Key></Deleted>"
                      "<Error><Key>b&amp;c</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                      "<Deleted><Key>d</Key></Deleted>"
                      "<Error><Key>e</Key><Code>InternalError</Code><Message>try again</Message></Error>"
                      "</DeleteResult>";
    ck_assert_int_eq(ws_s3_xml_parse_delete(doc, strlen(doc), &r, &err), 0);
    ck_assert_uint_eq(r.ndeleted, 2);
    ck_assert_uint_eq(r.nerrors, 2);
    ck_assert_str_eq(r.errors[0].key, "b&c");
    ck_assert_str_eq(r.errors[0].code, "AccessDenied");
    ck_assert_str_eq(r.errors[1].message, "try again");
    ws_s3_delete_result_free(&r);

    ck_assert_int_eq(ws_s3_xml_parse_delete("<DeleteResult/>", 15, &r, &err), 0);
    ck_assert_uint_eq(r.nerrors, 0);
    ws_s3_delete_result_free(&r);
    ck_assert_int_eq(ws_s3_xml_parse_delete("<DeleteResult>", 14, &r, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
}
END_TEST

/* A document with another root (here S3's <Error>) is refused by every
 * parser, naming the document and S3's code; another element is named. */
START_TEST(wrong_roots)
{
    static const char e[] = "<Error><Code>SlowDown</Code><Message>later</Message></Error>";
    ws_err err = {0};
    ws_s3_list_page pg;
    ws_s3_delete_result r;
    char *id = NULL;

    ck_assert_int_eq(ws_s3_xml_parse_list(e, strlen(e), &pg, &err), -1);
    ck_assert_msg(strstr(err.msg, "ListObjectsV2 response") && strstr(err.msg, "SlowDown"), "%s", err.msg);
    ck_assert_int_eq(ws_s3_xml_parse_upload_id(e, strlen(e), &id, &err), -1);
    ck_assert_msg(strstr(err.msg, "CreateMultipartUpload response") && strstr(err.msg, "SlowDown"), "%s", err.msg);
    ck_assert_ptr_null(id);
    ck_assert_int_eq(ws_s3_xml_parse_delete(e, strlen(e), &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "DeleteObjects response") && strstr(err.msg, "SlowDown"), "%s", err.msg);
    ck_assert_int_eq(ws_s3_xml_parse_delete("<Other/>", 8, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "DeleteObjects response") && strstr(err.msg, "Other"), "%s", err.msg);
}
END_TEST

START_TEST(escape_roundtrip)
{
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "<ListBucketResult><Contents><Key>");
    ws_s3_xml_escape(&b, "a&b<c>d\"e'f");
    ws_buf_adds(&b, "</Key></Contents></ListBucketResult>");
    ck_assert_ptr_nonnull(strstr(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f"));
    ws_s3_list_page pg;
    ws_err err = {0};
    ck_assert_int_eq(ws_s3_xml_parse_list(b.data, b.len, &pg, &err), 0);
    ck_assert_str_eq(pg.items[0].key, "a&b<c>d\"e'f");
    ws_s3_list_page_free(&pg);
    ws_buf_free(&b);
}
END_TEST

/* The example of AWS's AssumeRoleWithWebIdentity API reference. */
static const char sts_ok[] =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleWithWebIdentityResult>\n"
    "    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>\n"
    "    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>\n"
    "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
    "    </Credentials>\n"
    "    <SourceIdentity>SourceIdentityValue</SourceIdentity>\n"
    "    <Provider>www.amazon.com</Provider>\n"
    "  </AssumeRoleWithWebIdentityResult>\n"
    "  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>\n"
    "</AssumeRoleWithWebIdentityResponse>\n";

START_TEST(sts_documents)
{
    ws_s3_sts_creds c;
    ws_s3_error_doc e;
    ws_err err = {0};
    ck_assert_msg(ws_s3_xml_parse_sts(sts_ok, strlen(sts_ok), &c, &e, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(c.access_key, "ASgeIAIOSFODNN7EXAMPLE");
    ck_assert_str_eq(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    ck_assert_str_eq(c.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
    ck_assert_str_eq(c.expiration, "2014-10-24T23:00:23Z");
    ws_s3_sts_creds_free(&c);
    ck_assert_ptr_null(c.access_key);

    static const char denied[] = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
                                 "<Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                                 "<Message>Couldn't retrieve verification key</Message></Error>"
                                 "<RequestId>x</RequestId></ErrorResponse>";
    ck_assert_int_eq(ws_s3_xml_parse_sts(denied, strlen(denied), &c, &e, &err), 1);
    ck_assert_str_eq(e.code, "InvalidIdentityToken");
    ck_assert_str_eq(e.message, "Couldn't retrieve verification key");
    ck_assert_ptr_null(c.access_key);

    /* Every field is required. */
    static const char *const bad[] = {
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey><Expiration>2014-10-24T23:00:23Z"
        "</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>a</AccessKeyId><SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey>"
        "<Expiration></Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>",
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
        "<ListBucketResult/>",
        "<AssumeRoleWithWebIdentityResponse>",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ws_s3_xml_parse_sts(bad[i], strlen(bad[i]), &c, &e, &err), -1);
        ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        ck_assert_ptr_null(c.access_key);
        ck_assert_ptr_null(c.secret_key);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("s3_xml");
    TCase *t = tcase_create("list");
    tcase_add_test(t, list_page);
    tcase_add_test(t, list_last_page_and_empty);
    tcase_add_test(t, list_bad_input);
    tcase_add_test(t, list_dtd_refused);
    tcase_add_test(t, list_huge_refused);
    tcase_add_test(t, escape_roundtrip);
    suite_add_tcase(s, t);
    t = tcase_create("documents");
    tcase_add_test(t, error_documents);
    tcase_add_test(t, multipart_documents);
    tcase_add_test(t, delete_results);
    tcase_add_test(t, wrong_roots);
    tcase_add_test(t, sts_documents);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
