#define BOOST_TEST_MODULE flowgate_messages
#include <boost/test/unit_test.hpp>
