from examples.asyncio_ledger import main

main()
