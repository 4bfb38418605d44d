#define BOOST_TEST_MODULE flowgate_actors
#include <boost/test/unit_test.hpp>
