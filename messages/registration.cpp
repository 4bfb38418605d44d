#include "messages/registration.hpp"

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

namespace flowgate {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<tenant_id>("flowgate::tenant_id");
  cfg.add_message_type<queue_name>("flowgate::queue_name");
  cfg.add_message_type<config_version>("flowgate::config_version");
  cfg.add_message_type<run_id>("flowgate::run_id");
  cfg.add_message_type<node_id>("flowgate::node_id");
  cfg.add_message_type<tenant_record>("flowgate::tenant_record");
  cfg.add_message_type<std::vector<tenant_record>>("std::vector<flowgate::tenant_record>");
  cfg.add_message_type<config_document>("flowgate::config_document");
  cfg.add_message_type<config_summary>("flowgate::config_summary");
  cfg.add_message_type<std::vector<config_summary>>("std::vector<flowgate::config_summary>");
  cfg.add_message_type<config_stored>("flowgate::config_stored");
  cfg.add_message_type<config_activated>("flowgate::config_activated");
  cfg.add_message_type<step_reservation>("flowgate::step_reservation");
  cfg.add_message_type<schema_info>("flowgate::schema_info");
  cfg.add_message_type<writer_stats>("flowgate::writer_stats");
  cfg.add_message_type<store_tenant>("flowgate::store_tenant");
  cfg.add_message_type<seed_tenants>("flowgate::seed_tenants");
  cfg.add_message_type<store_config>("flowgate::store_config");
  cfg.add_message_type<activate_config>("flowgate::activate_config");
  cfg.add_message_type<reserve_step>("flowgate::reserve_step");
  cfg.add_message_type<find_tenant>("flowgate::find_tenant");
  cfg.add_message_type<list_tenants>("flowgate::list_tenants");
  cfg.add_message_type<find_config>("flowgate::find_config");
  cfg.add_message_type<find_runnable_version>("flowgate::find_runnable_version");
  cfg.add_message_type<list_configs>("flowgate::list_configs");
  cfg.add_message_type<read_schema_info>("flowgate::read_schema_info");
  cfg.add_error_category(caf::atom("flowgate"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto name = to_string(static_cast<errc>(code));
                           if (ctx.match_elements<std::string>()) {
                             return name + ": " + ctx.get_as<std::string>(0);
                           }
                           return name;
                         });
}

} // namespace flowgate
