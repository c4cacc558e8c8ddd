// sso/housekeeping: what the sign-in journey does every minute, away from any request.
#include "oidc/app_handoff.hpp"
#include "oidc/idp_signout.hpp"
#include "oidc/pending_login.hpp"
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

void SignIn::housekeeping() {
  const auto now = store::now_unix_ms();
  refused_sign_ins_.flush(store_, now);
  // Abandoned sign-ins would otherwise stay until someone finishes another one.
  oidc::sweep_expired_pending_logins(store_, now);
  oidc::sweep_handoffs(store_, now);
  session_ends_.housekeeping();
  oidc::sweep_idp_signouts(store_, now);
}

} // namespace gatehouse::sso
