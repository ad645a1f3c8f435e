# One line per unit-test module (tests/unit/test_<module>.c). Its cases are registered
# from the file's own test table, one ctest case ("module.case") per entry.
foreach(module error strutil settings config uri schema dotenv yaml_doc)
  sub_add_test(${module})
endforeach()
