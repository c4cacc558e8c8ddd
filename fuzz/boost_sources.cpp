// Boost.JSON and Boost.URL compiled from source into the fuzz build, so their parsers are instrumented
// like Gatehouse's own code (the Debian shared libraries are not).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
