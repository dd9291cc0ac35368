"""The local Spark heap: explicit settings pass through, ``auto`` follows the machine within bounds."""

import os

from leadscore.lakehouse.settings import PipelineSettings
from leadscore.lakehouse.spark import driver_memory


def test_explicit_heap_passes_through_and_auto_is_a_bounded_third_of_memory() -> None:
    assert driver_memory("5g") == "5g"
    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    auto = driver_memory("auto")
    assert auto.endswith("g") and 2 <= int(auto[:-1]) <= 8
    assert int(auto[:-1]) == int(min(8, max(2, total_gib // 3)))
    assert PipelineSettings().spark_driver_memory == "auto"
    assert PipelineSettings(spark_driver_memory="6g").spark_driver_memory == "6g"
