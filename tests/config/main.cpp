#define BOOST_TEST_MODULE flowgate_config
#include <boost/test/unit_test.hpp>
