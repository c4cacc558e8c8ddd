// people/page_assets: owns the people page's HTML, script and style: HA's look (its font, colours and
// cards, light and dark), one column on a phone. The script signs in to HA through Gatehouse as an HA
// client (client_id `<external_url>/`, the frontend's own), keeps its tokens in localStorage, calls the
// API with the access token as a bearer token, and builds every element with textContent (nothing it
// shows is read as HTML).
#pragma once

#include <string>
#include <string_view>

namespace gatehouse::people {

std::string page_html(std::string_view external_url);
std::string_view page_script();
std::string_view page_style();

} // namespace gatehouse::people
