// sso/housekeeping: what the sign-in journey does every minute, away from any request.
#include "sso/sign_in.hpp"

namespace gatehouse::sso {

void SignIn::housekeeping() { refused_sign_ins_.flush(store_, store::now_unix_ms()); }

} // namespace gatehouse::sso
