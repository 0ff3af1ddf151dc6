"""The fuzzing drill: hypothesis-generated requests and files against every parser of the service.

Each channel's properties live in one module (strategies and the check of one case); the tests in this
package run them with a few dozen examples so CI stays fast, and `python -m tests.drills.fuzz` runs the
same properties with as many cases as asked for and prints what it saw.
"""
