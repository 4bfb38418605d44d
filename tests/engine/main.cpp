#define BOOST_TEST_MODULE flowgate_engine
#include <boost/test/unit_test.hpp>
