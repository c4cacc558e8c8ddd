// jose/openssl: owns the RAII wrappers for the OpenSSL 3 objects the jose module creates, so every
// EVP_PKEY, context, BIGNUM and parameter list is freed on every path, and failed OpenSSL calls do not
// leave stale entries on the thread's error queue for an unrelated TLS error report to pick up later.
#pragma once

#include <memory>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

namespace gatehouse::jose {

template <auto Free>
struct OpenSslDeleter {
  template <class T>
  void operator()(T* object) const { Free(object); }
};
template <class T, auto Free>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<Free>>;

using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using ParamBldPtr = OpenSslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = OpenSslPtr<OSSL_PARAM, OSSL_PARAM_free>;

// Errors raised inside this scope (bad keys, failed verifications) are expected outcomes, reported through
// return values; they are dropped on exit, while errors queued before the scope stay for their owner.
class OpenSslErrorScope {
public:
  OpenSslErrorScope() { ERR_set_mark(); }
  ~OpenSslErrorScope() { ERR_pop_to_mark(); }
  OpenSslErrorScope(const OpenSslErrorScope&) = delete;
  OpenSslErrorScope& operator=(const OpenSslErrorScope&) = delete;
};

} // namespace gatehouse::jose
