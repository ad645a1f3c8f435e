# One line per unit-test module: sub_add_test(<module> <case>...), cases as named in the
# module's test table. Keep the case lists in sync with the tables (a missing name is a
# case that never runs; an unknown one fails with "no test case named").
sub_add_test(error codes_and_exits set_and_prefix scrub_secrets)
sub_add_test(strutil buf_limit kvlist path_join parse_int parse_bool mkdir_p)
sub_add_test(settings unique_names lookups)
sub_add_test(config precedence defaults empty_uri_is_unset uri_password_is_secret bad_values
             bad_layers versions)
sub_add_test(uri redact register_secrets)
sub_add_test(schema embedded_files_parse bad_files)
sub_add_test(dotenv PLACEHOLDER_DOTENV)
sub_add_test(yaml_doc PLACEHOLDER_YAML)
