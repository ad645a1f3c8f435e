# One line per unit-test module (tests/unit/test_<module>.c). Its cases are registered
# from the file's own test table, one ctest case ("module.case") per entry.
foreach(module error strutil settings config uri schema dotenv yaml_doc pyrandom source csv
               labelsort u64set openimages fo_dataset image http_fetch export pixels npz job
               splits preview)
  sub_add_test(${module})
endforeach()

# pyrandom.vectors compares against values the running Python prints at test time.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
add_test(NAME pyrandom.gen_vectors
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/gen-rand-vectors.py
                 ${CMAKE_BINARY_DIR}/rand-vectors.txt)
set_tests_properties(pyrandom.gen_vectors PROPERTIES FIXTURES_SETUP rand_vectors TIMEOUT 120)
set_tests_properties(pyrandom.vectors PROPERTIES FIXTURES_REQUIRED rand_vectors
  ENVIRONMENT_MODIFICATION "SUB_TEST_RAND_VECTORS=set:${CMAKE_BINARY_DIR}/rand-vectors.txt")

# The driver of tests/integration/test_source_fetch.py: one sub_source_fetch() as JSON.
add_executable(test_source_fetch_cli ${CMAKE_SOURCE_DIR}/tests/unit/source_fetch_main.c)
target_link_libraries(test_source_fetch_cli PRIVATE subsetter_core)

# The driver of tests/integration/test_image_probe.py: sub_image_probe()/verify() as JSON lines.
add_executable(image_probe ${CMAKE_SOURCE_DIR}/tests/unit/image_probe_main.c)
target_link_libraries(image_probe PRIVATE subsetter_core)

# The drivers of tests/integration/test_pixels.py, test_npz.py, test_splits.py and
# test_idranges.py.
foreach(driver pixels npz splits idranges)
  add_executable(${driver}_cli ${CMAKE_SOURCE_DIR}/tests/unit/${driver}_main.c)
  target_link_libraries(${driver}_cli PRIVATE subsetter_core)
endforeach()

# The driver of tests/integration/test_http_fetch.py: sub_http_fetch jobs as JSON lines.
add_executable(test_http_fetch_cli ${CMAKE_SOURCE_DIR}/tests/unit/http_fetch_main.c)
target_link_libraries(test_http_fetch_cli PRIVATE subsetter_core)
