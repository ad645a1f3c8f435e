# One line per unit-test module: sub_add_test(<module> <case>...), cases as named in the
# module's test table. Keep the case lists in sync with the tables (a missing name is a
# case that never runs; an unknown one fails with "no test case named").
sub_add_test(error codes_and_exits set_and_prefix scrub_secrets)
sub_add_test(strutil buf_limit kvlist path_join parse_int parse_bool mkdir_p)
sub_add_test(dotenv PLACEHOLDER_DOTENV)
sub_add_test(yaml_doc PLACEHOLDER_YAML)
