import { Controller, Get, Module } from '@nestjs/common';
import { AlectioModule } from 'nestjs-alectio';

import { CustomerModel } from './customer.model.js';

/** One route of the customer's own, next to the library's. */
@Controller('customer')
export class CustomerController {
  constructor(private readonly model: CustomerModel) {}

  @Get('trained')
  trained() {
    return this.model.trained;
  }
}

@Module({
  imports: [AlectioModule.forRoot()],
  controllers: [CustomerController],
  providers: [CustomerModel],
})
export class AppModule {}
