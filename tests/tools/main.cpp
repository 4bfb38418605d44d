#define BOOST_TEST_MODULE flowgate_tools
#include <boost/test/unit_test.hpp>
