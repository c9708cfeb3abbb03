"""The pytest plugin, as a user's project sees it: run in a pytest process of its own."""

import pytest

pytest_plugins = ["pytester"]

USES_THE_FIXTURE = '''
import aion_actors as aion
from aion_actors import activity, workflow


@activity.defn
def charge(amount: int) -> str:
    raise RuntimeError("real payment service")


@workflow.defn
async def renew(amount: int) -> str:
    await workflow.sleep(30 * 86400)
    return await workflow.execute_activity(charge, amount)


def test_renewal(aion_env):
    env = aion_env(workflows=[renew], activities=[charge], mocks={"charge": lambda amount: f"paid {amount}"})
    assert env.execute(renew, 12) == "paid 12"


def test_two_environments_in_one_test(aion_env):
    first, second = aion_env(workflows=[renew]), aion_env(workflows=[renew])
    assert first.engine is not second.engine
'''

DOES_NOT_USE_IT = '''
import sys


def test_the_plugin_is_loaded_but_imports_nothing_of_aion(request):
    assert request.config.pluginmanager.has_plugin("aion")
    assert not any(name == "aion_actors" or name.startswith("aion_actors.") for name in sys.modules)
'''


def test_the_aion_env_fixture_gives_a_time_skipping_environment_with_mocks(pytester):
    pytester.makepyfile(test_user=USES_THE_FIXTURE)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_project_that_does_not_use_the_fixture_pays_nothing(pytester):
    pytester.makepyfile(test_other=DOES_NOT_USE_IT)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
