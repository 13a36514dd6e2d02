from setuptools import find_packages, setup

# Metadata lives in setup.cfg. The tools/ folder is installed as the
# package mmdet_lossplus_tools (scripts import it instead of editing
# sys.path); the plugin itself is mmdet_lossplus.
TOOLS = ['mmdet_lossplus_tools'] + [
    f'mmdet_lossplus_tools.{name}' for name in find_packages('tools')
]
setup(
    packages=find_packages(include=['mmdet_lossplus', 'mmdet_lossplus.*']) +
    TOOLS,
    package_dir={'mmdet_lossplus_tools': 'tools'})
