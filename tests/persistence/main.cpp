#define BOOST_TEST_MODULE flowgate_persistence
#include <boost/test/unit_test.hpp>
