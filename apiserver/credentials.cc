#include "apiserver/credentials.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace lifeboat::apiserver {
namespace {

constexpr int kTokenBytes = 32;
constexpr long kValiditySeconds = 10L * 365 * 24 * 3600;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError("cannot read " + path.string());
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

StatusOr<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return InternalError("encoding a private key failed");
  }
  return BioString(bio.get());
}

StatusOr<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) {
    return InternalError("encoding a certificate failed");
  }
  return BioString(bio.get());
}

StatusOr<PkeyPtr> NewKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) {
    return InternalError("generating an EC P-256 key failed");
  }
  return key;
}

Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) {
    return InternalError(std::string("building certificate extension ") + value + " failed");
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return OkStatus();
}

StatusOr<X509Ptr> NewCert(EVP_PKEY* key, const std::string& common_name, X509* issuer,
                          EVP_PKEY* issuer_key, bool ca) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  std::string serial = std::string(16, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(serial.data()), static_cast<int>(serial.size()));
  serial[0] = static_cast<char>(serial[0] & 0x7f);
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial.data()),
                         static_cast<int>(serial.size()), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("lifeboat"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer ? issuer : cert.get();
  if (ca) {
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign"));
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash"));
  } else {
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(
        AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature"));
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth"));
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_subject_alt_name,
                                 "IP:127.0.0.1,DNS:localhost"));
    RETURN_IF_ERROR(AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid"));
  }
  if (!X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256())) {
    return InternalError("signing the certificate " + common_name + " failed");
  }
  return cert;
}

Status MakeTls(const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(PkeyPtr ca_key, NewKey());
  ASSIGN_OR_RETURN(X509Ptr ca, NewCert(ca_key.get(), "lifeboat-ca", nullptr, nullptr, true));
  ASSIGN_OR_RETURN(PkeyPtr server_key, NewKey());
  ASSIGN_OR_RETURN(X509Ptr server,
                   NewCert(server_key.get(), "lifeboat-apiserver", ca.get(), ca_key.get(), false));
  ASSIGN_OR_RETURN(std::string ca_key_pem, KeyPem(ca_key.get()));
  ASSIGN_OR_RETURN(std::string ca_pem, CertPem(ca.get()));
  ASSIGN_OR_RETURN(std::string server_key_pem, KeyPem(server_key.get()));
  ASSIGN_OR_RETURN(std::string server_pem, CertPem(server.get()));
  RETURN_IF_ERROR(WritePrivateFile(dir / "ca.key", ca_key_pem));
  RETURN_IF_ERROR(WritePrivateFile(dir / "server.key", server_key_pem));
  RETURN_IF_ERROR(WritePrivateFile(dir / "server.crt", server_pem));
  // The CA certificate is written last: its presence marks a complete set.
  return WritePrivateFile(dir / "ca.crt", ca_pem);
}

std::string Hex(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

}  // namespace

Status WritePrivateFile(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return InternalError("cannot write " + tmp.string());
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n <= 0) {
      ::close(fd);
      return InternalError("cannot write " + tmp.string());
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return InternalError("cannot rename " + tmp.string() + ": " + ec.message());
  }
  return OkStatus();
}

StatusOr<Credentials> EnsureCredentials(const std::filesystem::path& data_dir, bool tls) {
  Credentials creds;
  std::filesystem::path token_file = data_dir / "token";
  if (!std::filesystem::exists(token_file)) {
    std::string bytes(kTokenBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), kTokenBytes) != 1) {
      return InternalError("generating the bearer token failed");
    }
    RETURN_IF_ERROR(WritePrivateFile(token_file, Hex(bytes) + "\n"));
  }
  ASSIGN_OR_RETURN(std::string token, ReadFile(token_file));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token.pop_back();
  }
  if (token.empty()) {
    return InternalError(token_file.string() + " is empty");
  }
  creds.token = token;
  if (!tls) {
    return creds;
  }
  creds.ca_cert = data_dir / "ca.crt";
  creds.server_cert = data_dir / "server.crt";
  creds.server_key = data_dir / "server.key";
  if (!std::filesystem::exists(creds.ca_cert) || !std::filesystem::exists(creds.server_cert) ||
      !std::filesystem::exists(creds.server_key)) {
    RETURN_IF_ERROR(MakeTls(data_dir));
  }
  ASSIGN_OR_RETURN(creds.ca_pem, ReadFile(creds.ca_cert));
  return creds;
}

}  // namespace lifeboat::apiserver
